#!/usr/bin/env python3
"""Golden renderings of Hugging Face chat templates, made with Python's jinja2 configured as
transformers configures it (`ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)`,
a `raise_exception` global). The Rust `HfChatTemplate` must render the same strings.

Usage: python3 scripts/golden/chat_template_golden.py > fixtures/golden/mdp/chat_templates.json
Needs only `jinja2` (any 3.x).
"""
import json

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

# Qwen2-7B-Instruct's chat_template.
QWEN2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# The core of Meta-Llama-3-8B-Instruct's template (bos_token, `| trim`, loop variables).
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)

# A Llama-2/Vicuna-style template with block tags on their own lines (exercises trim_blocks and
# lstrip_blocks), Python string methods and raise_exception.
LLAMA2_STYLE = """{% if messages[0]['role'] == 'system' %}
    {% set system_message = messages[0]['content'].strip() %}
    {% set loop_messages = messages[1:] %}
{% else %}
    {% set system_message = '' %}
    {% set loop_messages = messages %}
{% endif %}
{{ bos_token }}{{ system_message }}
{% for message in loop_messages %}
    {% if message['role'] == 'user' %}
        {{ 'User: ' + message['content'].strip() + '\\n' }}
    {% elif message['role'] == 'assistant' %}
        {{ 'Assistant: ' + message['content'] + eos_token + '\\n' }}
    {% elif message['role'] == 'tool' %}
        {{ 'Function: ' + message['content'] + '\\n' }}
    {% else %}
        {{ raise_exception('Unknown role: ' + message['role']) }}
    {% endif %}
{% endfor %}
{% if add_generation_prompt %}
    {{ 'Assistant:' }}
{% endif %}
"""

MESSAGES = [
    {"role": "system", "content": "  You are AutoGPT.\nUse tools.  "},
    {"role": "user", "content": "\nWhat's the weather in Paris? é ✓\nBegin!\n"},
    {"role": "assistant", "content": "Thought: look it up\nAction: weather_for_meteo\nAction Input: {\"city\": \"Paris\"}"},
    {"role": "tool", "content": "{\"error\": \"\", \"response\": \"sunny\"}"},
]


def render(template, messages, add_generation_prompt, bos="<s>", eos="</s>"):
    def raise_exception(message):
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template).render(
        messages=messages, add_generation_prompt=add_generation_prompt, bos_token=bos, eos_token=eos
    )


cases = []
for name, template, bos, eos in [
    ("qwen2", QWEN2, "", "<|endoftext|>"),
    ("llama3", LLAMA3, "<|begin_of_text|>", "<|eot_id|>"),
    ("llama2_style", LLAMA2_STYLE, "<s>", "</s>"),
]:
    for messages in (MESSAGES, MESSAGES[1:]):
        for agp in (True, False):
            cases.append({
                "name": name, "template": template, "bos_token": bos, "eos_token": eos,
                "messages": messages, "add_generation_prompt": agp,
                "expected": render(template, messages, agp, bos, eos),
            })
print(json.dumps(cases, indent=1, ensure_ascii=False))
