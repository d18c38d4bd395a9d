//! AdamW over the trainable tensors (LoRA and value head), with its state in the open so that a
//! checkpoint can hold it and a resume continues bit for bit.
//!
//! `tch::nn::Optimizer` keeps its moment buffers inside libtorch with no way to read or write
//! them, so a resumed run would restart Adam from zero. This is the same update as
//! `torch.optim.AdamW` (non-fused, `amsgrad=False`): `p ← p·(1 − lr·wd)`,
//! `m ← β1·m + (1−β1)·g`, `v ← β2·v + (1−β2)·g²`,
//! `p ← p − lr/(1−β1^t) · m / (sqrt(v)/sqrt(1−β2^t) + ε)`; with `wd = 0` it is `torch.optim.Adam`.

use std::path::Path;

use tch::{Kind, Tensor};

use crate::error::{Error, Result};

/// AdamW state for a named set of parameters.
#[derive(Debug)]
pub struct AdamW {
    params: Vec<(String, Tensor)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    step: u64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
}

impl AdamW {
    /// An optimizer over `params` (sorted by name so files are stable).
    pub fn new(
        mut params: Vec<(String, Tensor)>,
        betas: (f64, f64),
        eps: f64,
        weight_decay: f64,
    ) -> Result<Self> {
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let mut m = Vec::with_capacity(params.len());
        let mut v = Vec::with_capacity(params.len());
        for (_, p) in &params {
            m.push(p.f_zeros_like()?.f_to_kind(Kind::Float)?);
            v.push(p.f_zeros_like()?.f_to_kind(Kind::Float)?);
        }
        Ok(AdamW {
            params,
            m,
            v,
            step: 0,
            betas,
            eps,
            weight_decay,
        })
    }

    /// The parameters, sorted by name.
    pub fn params(&self) -> &[(String, Tensor)] {
        &self.params
    }

    /// Optimizer steps taken.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Clears every parameter's gradient.
    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            p.zero_grad();
        }
    }

    /// The global L2 norm of the gradients (0 for parameters without one).
    pub fn grad_norm(&self) -> Result<f64> {
        let mut sq = 0.0f64;
        for (_, p) in &self.params {
            let g = p.grad();
            if g.defined() {
                sq += g
                    .f_to_kind(Kind::Double)?
                    .f_square()?
                    .f_sum(Kind::Double)?
                    .f_double_value(&[])?;
            }
        }
        Ok(sq.sqrt())
    }

    /// Multiplies every gradient by `factor`.
    pub fn scale_grads(&mut self, factor: f64) -> Result<()> {
        let _g = tch::no_grad_guard();
        for (_, p) in &self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.f_mul_scalar_(factor)?;
            }
        }
        Ok(())
    }

    /// One AdamW update with learning rate `lr`. A parameter that is NaN or inf after the
    /// update is an error naming it: finite gradients can still overflow a parameter (a huge
    /// learning rate), and a run must stop before such weights reach a checkpoint.
    pub fn step(&mut self, lr: f64) -> Result<()> {
        let _g = tch::no_grad_guard();
        self.step += 1;
        let (b1, b2) = self.betas;
        let bc1 = 1.0 - b1.powi(self.step as i32);
        let bc2_sqrt = (1.0 - b2.powi(self.step as i32)).sqrt();
        let mut finite: Vec<(&String, Tensor)> = Vec::with_capacity(self.params.len());
        for ((name, p), (m, v)) in self
            .params
            .iter()
            .zip(self.m.iter_mut().zip(self.v.iter_mut()))
        {
            let g = p.grad();
            if !g.defined() {
                continue;
            }
            let g = g.f_to_kind(Kind::Float)?;
            let mut p = p.shallow_clone();
            if self.weight_decay != 0.0 {
                let _ = p.f_mul_scalar_(1.0 - lr * self.weight_decay)?;
            }
            let _ = m.f_mul_scalar_(b1)?.f_add_(&g.f_mul_scalar(1.0 - b1)?)?;
            let _ = v
                .f_mul_scalar_(b2)?
                .f_add_(&g.f_mul(&g)?.f_mul_scalar(1.0 - b2)?)?;
            let denom = v.f_sqrt()?.f_div_scalar(bc2_sqrt)?.f_add_scalar(self.eps)?;
            let upd = m.f_div(&denom)?.f_mul_scalar(-lr / bc1)?;
            let _ = p.f_add_(&upd.f_to_kind(p.kind())?)?;
            finite.push((name, p.f_isfinite()?.f_all()?));
        }
        // One device-to-host read for all parameters, not one sync per tensor.
        if finite.is_empty() {
            return Ok(());
        }
        let flags: Vec<&Tensor> = finite.iter().map(|(_, t)| t).collect();
        let ok = Vec::<i64>::try_from(Tensor::f_stack(&flags, 0)?.f_to_kind(Kind::Int64)?)?;
        if let Some(i) = ok.iter().position(|&f| f == 0) {
            return Err(Error::NonFiniteParameter {
                tensor: finite[i].0.clone(),
                optimizer_step: self.step,
                lr,
            });
        }
        Ok(())
    }

    /// Writes the moments and the step count to a safetensors-like libtorch file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut named: Vec<(String, Tensor)> = Vec::with_capacity(2 * self.params.len() + 1);
        for ((name, _), (m, v)) in self.params.iter().zip(self.m.iter().zip(&self.v)) {
            named.push((format!("m.{name}"), m.shallow_clone()));
            named.push((format!("v.{name}"), v.shallow_clone()));
        }
        named.push(("step".into(), Tensor::from_slice(&[self.step as i64])));
        Tensor::save_multi(&named, path)?;
        Ok(())
    }

    /// Reads what [`AdamW::save`] wrote; every parameter's moments must be present with the
    /// right shape.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let err = |message: String| Error::Checkpoint {
            path: path.to_path_buf(),
            message,
        };
        // libtorch's message for a corrupt file carries ~40 lines of C++ frames: keep its
        // first line, the file is named by the error.
        let loaded = Tensor::load_multi(path).map_err(|e| {
            err(format!(
                "not a readable optimizer state: {}",
                steptool_model::torch_message(&e)
            ))
        })?;
        let map: std::collections::HashMap<String, Tensor> = loaded.into_iter().collect();
        let _g = tch::no_grad_guard();
        for ((name, p), (m, v)) in self
            .params
            .iter()
            .zip(self.m.iter_mut().zip(self.v.iter_mut()))
        {
            for (prefix, dst) in [("m", m), ("v", v)] {
                let key = format!("{prefix}.{name}");
                let src = map
                    .get(&key)
                    .ok_or_else(|| err(format!("optimizer state lacks `{key}`")))?;
                if src.size() != p.size() {
                    return Err(err(format!(
                        "`{key}` has shape {:?}, the parameter {:?}",
                        src.size(),
                        p.size()
                    )));
                }
                dst.f_copy_(src)?;
            }
        }
        if map.len() != 2 * self.params.len() + 1 {
            return Err(err(format!(
                "optimizer state has {} tensors, expected {} for {} parameters",
                map.len(),
                2 * self.params.len() + 1,
                self.params.len()
            )));
        }
        let step = map
            .get("step")
            .ok_or_else(|| err("optimizer state lacks `step`".into()))?;
        self.step =
            u64::try_from(step.f_int64_value(&[0])?).map_err(|e| err(format!("bad step: {e}")))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_that_overflows_a_parameter_is_an_error_naming_it() -> Result<()> {
        let w = Tensor::from_slice(&[1.0f32, -2.0]).set_requires_grad(true);
        let mut opt = AdamW::new(
            vec![("lora_a".into(), w.shallow_clone())],
            (0.9, 0.999),
            1e-8,
            0.0,
        )?;
        let loss = w.f_square()?.f_sum(Kind::Float)?;
        loss.backward();
        // A finite gradient and a learning rate a config check accepts (finite, > 0).
        let err = opt.step(1e300).expect_err("the update overflows f32");
        let msg = err.to_string();
        assert!(msg.contains("lora_a") && msg.contains("step 1"), "{msg}");
        // A sane step on fresh weights passes the same check.
        let w = Tensor::from_slice(&[1.0f32, -2.0]).set_requires_grad(true);
        let mut opt = AdamW::new(
            vec![("lora_a".into(), w.shallow_clone())],
            (0.9, 0.999),
            1e-8,
            0.0,
        )?;
        w.f_square()?.f_sum(Kind::Float)?.backward();
        opt.step(1e-3)?;
        Ok(())
    }

    #[test]
    fn a_corrupt_state_file_is_one_line_naming_the_file() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io(Path::new("tempdir")))?;
        let path = dir.path().join("optimizer.pt");
        std::fs::write(&path, b"not a torch file").map_err(Error::io(&path))?;
        let w = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
        let mut opt = AdamW::new(vec![("w".into(), w)], (0.9, 0.999), 1e-8, 0.0)?;
        let msg = opt.load(&path).expect_err("garbage").to_string();
        assert!(msg.contains("optimizer.pt"), "{msg}");
        assert_eq!(msg.lines().count(), 1, "{msg}");
        Ok(())
    }
}
