#!/usr/bin/env python3
"""Golden data for steptool-mdp `names.rs`: ToolBench's name normalisation, run by Python.

The three functions below are copied verbatim from ToolBench `toolbench/utils.py` (identical in
StableToolBench `server/utils.py`, formats.md section 0). The script applies them to every tool,
API and category name of `fixtures/reference/test_queries_G1_instruction_first10.json` plus a
list of tricky strings and writes `fixtures/golden/mdp/names.json`.

Run from the repository root: `python3 scripts/golden/names_golden.py` (plain python3, no deps).
"""
import json
import re


def standardize_category(category):
    save_category = category.replace(" ", "_").replace(",", "_").replace("/", "_")
    while " " in save_category or "," in save_category:
        save_category = save_category.replace(" ", "_").replace(",", "_")
    save_category = save_category.replace("__", "_")
    return save_category


def standardize(string):
    res = re.compile("[^\\u4e00-\\u9fa5^a-z^A-Z^0-9^_]")
    string = res.sub("_", string)
    string = re.sub(r"(_)\1+", "_", string).lower()
    while True:
        if len(string) == 0:
            return string
        if string[0] == "_":
            string = string[1:]
        else:
            break
    while True:
        if len(string) == 0:
            return string
        if string[-1] == "_":
            string = string[:-1]
        else:
            break
    if string[0].isdigit():
        string = "get_" + string
    return string


def change_name(name):
    change_list = ["from", "class", "return", "false", "true", "id", "and"]
    if name in change_list:
        name = "is_" + name
    return name


TRICKY = [
    "", "_", "__a__", "a^b", "^^", "A_^_B", "12abc", " 3 ", "Ünïcödé", "中文 API", "\u4e00\u9fa5\u9fa6",
    "from", "FROM", "id", "and", "Id", "tab\there", "new\nline", "emoji 🚀 rocket", "a--b", "x/y,z",
    "Kick.com API | Kick API", "Get Chat User (like user from chat)", "١٢٣ digits", "ß", "İ", "_from_",
]


def main():
    with open("fixtures/reference/test_queries_G1_instruction_first10.json", encoding="utf-8") as f:
        queries = json.load(f)
    strings = list(TRICKY)
    categories = [" a , b", "Business Software", "Video, Images", "a ,, b", "x/y/z", "a ,  , b"]
    pairs = []
    for q in queries:
        for api in q["api_list"]:
            strings += [api["tool_name"], api["api_name"]]
            categories.append(api["category_name"])
            pairs.append([api["tool_name"], api["api_name"]])
        for tool, api in q["relevant APIs"]:
            pairs.append([tool, api])
    seen = set()
    strings = [s for s in strings if not (s in seen or seen.add(s))]
    out = {
        "standardize": [[s, standardize(s)] for s in strings],
        "change_name": [[s, change_name(s)] for s in strings + ["from", "class", "return", "false", "true", "id", "and"]],
        "standardize_category": [[c, standardize_category(c)] for c in sorted(set(categories))],
        "function_name": [
            [tool, api, change_name(standardize(api)) + "_for_" + standardize(tool)] for tool, api in pairs
        ],
    }
    with open("fixtures/golden/mdp/names.json", "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
