//! The exponential of the Gaussian kernels: one table-driven algorithm (error within about
//! 0.51 ulp) evaluated with the same IEEE operations one value at a time (`exp_scalar`) and
//! four lanes at a time on x86-64-v3 (`exp4`, through `pulp`), so both give the same bits on
//! every machine; it depends on no libm.
//!
//! Method (Tang's table-driven reduction): `t = k ln2 / 32 + r` with `k = round(32 t / ln2)`
//! and `|r| <= ln2 / 64`; `exp(t) = 2^(k div 32) * 2^((k mod 32) / 32) * exp(r)`. The reduced
//! argument is `r = (t - k L_HI) - k L_LO` with `ln2 / 32 = L_HI + L_LO` (a 37-bit head, whose
//! product with `k` is exact, and a tail), both steps fused multiply-adds. `p = exp(r) - 1` is
//! `r + r^2 (1/2 + r/6 + ... + r^5/7!)` (Horner with FMAs; truncation below 2^-67). With the
//! table value `2^(j/32) = th + tl` (head correctly rounded, tail the rounded remainder), the
//! result is `th + fma(th, p, tl)`, then scaled by `2^(k div 32)` in two exact steps so that
//! results in the subnormal range are rounded once. Arguments below [`UNDERFLOW`] give exactly
//! 0.0, as `f64::exp` does.
//!
//! Accuracy: the final addition contributes 0.5 ulp, `fma(th, p, tl)` at most 2^-7 ulp, the
//! reduction, polynomial and table together under 0.003 ulp: about 0.51 ulp in all, like a
//! good libm. Its values differ from `f64::exp`'s by at most one ulp, and rarely.

#[cfg(target_arch = "x86_64")]
use pulp::{bytemuck::cast, f64x4, u64x4, x86::V3};

/// Below this argument `exp` returns exactly 0.0 (e^-746 is under half the smallest
/// subnormal), so such values are 0.0 without any evaluation.
pub(crate) const UNDERFLOW: f64 = -746.0;

/// Width of the lane arrays the pair engine hands to kernels.
pub(crate) const LANES: usize = 8;

/// 32 / ln 2, for choosing `k` (its rounding only moves `r` within the polynomial's range).
const INV_L: f64 = 46.166_241_308_446_83;
/// Head of ln2 / 32: its mantissa has 37 significant bits, so `k * L_HI` is exact for
/// `|k| < 2^16`.
const L_HI: f64 = f64::from_bits(0x3f96_2e42_fefa_0000);
/// ln2 / 32 - L_HI, rounded (the remainder is below 4e-30).
const L_LO: f64 = f64::from_bits(0x3d2c_f79a_bc9e_3b3a);
/// 1.5 * 2^52: adding it rounds a value of magnitude below 2^51 to an integer, which then
/// sits in the low bits of the sum.
const SHIFT: f64 = 6_755_399_441_055_744.0;
/// (1023 + 512) * 32: biases `k` so that `(k + BIAS) >> 5` is the exponent field of
/// `2^(k div 32 + 512)` for every `k` of an argument in `[UNDERFLOW, 0]`.
const BIAS: u64 = (1023 + 512) * 32;
/// 2^-512, the second scaling step.
const TWO_M512: f64 = f64::from_bits((1023 - 512) << 52);
/// For arguments in `[-R_SMALL, 0]` `k` is 0 (`|32 t / ln2| < 0.4986`): no table, no scaling.
const R_SMALL: f64 = 0.0108;

const C2: f64 = 1.0 / 2.0;
const C3: f64 = 1.0 / 6.0;
const C4: f64 = 1.0 / 24.0;
const C5: f64 = 1.0 / 120.0;
const C6: f64 = 1.0 / 720.0;
const C7: f64 = 1.0 / 5040.0;

/// `2^(j/32)` as (head, tail) bit patterns: head correctly rounded, tail the rounded
/// remainder, computed with Python's `decimal` at 80 digits:
/// `v = Decimal(2) ** (Decimal(j) / 32); head = float(v); tail = float(v - Decimal(head))`.
const TABLE: [(u64, u64); 32] = [
    (0x3ff0000000000000, 0x0000000000000000),
    (0x3ff059b0d3158574, 0x3c8d73e2a475b465),
    (0x3ff0b5586cf9890f, 0x3c98a62e4adc610b),
    (0x3ff11301d0125b51, 0xbc96c51039449b3a),
    (0x3ff172b83c7d517b, 0xbc819041b9d78a76),
    (0x3ff1d4873168b9aa, 0x3c9e016e00a2643c),
    (0x3ff2387a6e756238, 0x3c99b07eb6c70573),
    (0x3ff29e9df51fdee1, 0x3c8612e8afad1255),
    (0x3ff306fe0a31b715, 0x3c86f46ad23182e4),
    (0x3ff371a7373aa9cb, 0xbc963aeabf42eae2),
    (0x3ff3dea64c123422, 0x3c8ada0911f09ebc),
    (0x3ff44e086061892d, 0x3c489b7a04ef80d0),
    (0x3ff4bfdad5362a27, 0x3c7d4397afec42e2),
    (0x3ff5342b569d4f82, 0xbc807abe1db13cad),
    (0x3ff5ab07dd485429, 0x3c96324c054647ad),
    (0x3ff6247eb03a5585, 0xbc9383c17e40b497),
    (0x3ff6a09e667f3bcd, 0xbc9bdd3413b26456),
    (0x3ff71f75e8ec5f74, 0xbc816e4786887a99),
    (0x3ff7a11473eb0187, 0xbc841577ee04992f),
    (0x3ff82589994cce13, 0xbc9d4c1dd41532d8),
    (0x3ff8ace5422aa0db, 0x3c96e9f156864b27),
    (0x3ff93737b0cdc5e5, 0xbc675fc781b57ebc),
    (0x3ff9c49182a3f090, 0x3c7c7c46b071f2be),
    (0x3ffa5503b23e255d, 0xbc9d2f6edb8d41e1),
    (0x3ffae89f995ad3ad, 0x3c97a1cd345dcc81),
    (0x3ffb7f76f2fb5e47, 0xbc75584f7e54ac3b),
    (0x3ffc199bdd85529c, 0x3c811065895048dd),
    (0x3ffcb720dcef9069, 0x3c7503cbd1e949db),
    (0x3ffd5818dcfba487, 0x3c82ed02d75b3707),
    (0x3ffdfc97337b9b5f, 0xbc91a5cd4f184b5c),
    (0x3ffea4afa2a490da, 0xbc9e9c23179c2893),
    (0x3fff50765b6e4540, 0x3c99d3e12dd8a18b),
];

/// `exp(t)` for `t <= 0` (the kernels' arguments), exactly 0.0 below [`UNDERFLOW`].
#[inline(always)]
pub(crate) fn exp_scalar(t: f64) -> f64 {
    if t < UNDERFLOW {
        return 0.0;
    }
    let shifted = t.mul_add(INV_L, SHIFT);
    let kd = shifted - SHIFT;
    let biased = shifted
        .to_bits()
        .wrapping_sub(SHIFT.to_bits())
        .wrapping_add(BIAS);
    let (th, tl) = entry(biased);
    let scale = f64::from_bits((biased >> 5) << 52);
    // -(kd L) + t, fused: the same operation as the lanes' negated multiply-add.
    let r = (-kd).mul_add(L_LO, (-kd).mul_add(L_HI, t));
    let p = polynomial(r);
    let res = f64::from_bits(th) + f64::from_bits(th).mul_add(p, f64::from_bits(tl));
    res * scale * TWO_M512
}

#[inline(always)]
fn polynomial(r: f64) -> f64 {
    let mut poly = C7.mul_add(r, C6);
    for c in [C5, C4, C3, C2] {
        poly = poly.mul_add(r, c);
    }
    (r * r).mul_add(poly, r)
}

#[inline(always)]
fn entry(j: u64) -> (u64, u64) {
    TABLE[(j & 31) as usize]
}

/// [`polynomial`] on four lanes.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn poly4(simd: V3, r: f64x4) -> f64x4 {
    let mut poly = simd.mul_add_f64x4(simd.splat_f64x4(C7), r, simd.splat_f64x4(C6));
    for c in [C5, C4, C3, C2] {
        poly = simd.mul_add_f64x4(poly, r, simd.splat_f64x4(c));
    }
    simd.mul_add_f64x4(simd.mul_f64x4(r, r), poly, r)
}

/// [`exp_scalar`] on four lanes, with the same operations per lane (so the same bits).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn exp4(simd: V3, t: f64x4) -> f64x4 {
    let splat = |v: f64| simd.splat_f64x4(v);
    let splat_u = |v: u64| simd.splat_u64x4(v);
    let underflow = simd.cmp_lt_f64x4(t, splat(UNDERFLOW));
    // Underflowing lanes are evaluated at 0 (and replaced by 0.0 at the end) so that the
    // integer arithmetic below stays in range.
    let x = simd.select_f64x4(underflow, splat(0.0), t);
    let all_small = {
        let small: [u64; 4] = cast(simd.cmp_ge_f64x4(x, splat(-R_SMALL)));
        small.iter().all(|&m| m != 0)
    };
    let value = if all_small {
        // k = 0 in every lane: th = 1, tl = 0, scale 1 (the general path's exact values).
        let p = poly4(simd, x);
        let res = simd.add_f64x4(splat(1.0), simd.mul_add_f64x4(splat(1.0), p, splat(0.0)));
        simd.mul_f64x4(
            simd.mul_f64x4(res, splat(f64::from_bits(1535 << 52))),
            splat(TWO_M512),
        )
    } else {
        let shifted = simd.mul_add_f64x4(x, splat(INV_L), splat(SHIFT));
        let kd = simd.sub_f64x4(shifted, splat(SHIFT));
        let biased = simd.wrapping_add_u64x4(
            simd.wrapping_sub_u64x4(cast(shifted), splat_u(SHIFT.to_bits())),
            splat_u(BIAS),
        );
        let j: u64x4 = simd.and_u64x4(biased, splat_u(31));
        let scale: f64x4 = cast(simd.shl_const_u64x4::<52>(simd.shr_const_u64x4::<5>(biased)));
        let r1 = simd.negate_mul_add_f64x4(kd, splat(L_HI), x);
        let r = simd.negate_mul_add_f64x4(kd, splat(L_LO), r1);
        let p = poly4(simd, r);
        let (e0, e1, e2, e3) = (entry(j.0), entry(j.1), entry(j.2), entry(j.3));
        let th: f64x4 = cast(u64x4(e0.0, e1.0, e2.0, e3.0));
        let tl: f64x4 = cast(u64x4(e0.1, e1.1, e2.1, e3.1));
        let res = simd.add_f64x4(th, simd.mul_add_f64x4(th, p, tl));
        simd.mul_f64x4(simd.mul_f64x4(res, scale), splat(TWO_M512))
    };
    simd.select_f64x4(underflow, splat(0.0), value)
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Kernel-like arguments: uniform on [-750, 0] and [-2, 0], and log-uniform magnitudes
    /// from 1e-20 to 750.
    fn samples(count: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..count)
            .map(|k| match k % 3 {
                0 => -rng.random::<f64>() * 750.0,
                1 => -rng.random::<f64>() * 2.0,
                _ => -(10f64).powf(rng.random::<f64>() * 22.875 - 20.0),
            })
            .collect()
    }

    fn special() -> Vec<f64> {
        let mut t = vec![
            0.0,
            -0.0,
            -1e-300,
            -f64::MIN_POSITIVE,
            -5e-324,
            -1e-17,
            -1.1e-16,
            -0.0108,
            -0.010_830_424_696_249_145,
            -0.5,
            -1.0,
            -f64::ln(2.0),
            -700.0,
            -705.0,
            -708.39,
            -708.4,
            -709.0,
            -720.0,
            -744.0,
            -745.0,
            -745.1332,
            -745.2,
            -745.9999,
            -746.0,
            -746.0001,
            -1e10,
            f64::NEG_INFINITY,
        ];
        // exact multiples of ln2/32: r = 0, table values, powers of two
        t.extend((0..34_000).step_by(7).map(|k| -(k as f64) * L_HI));
        t
    }

    /// Distance in ulps between two non-negative finite doubles.
    fn ulps(a: f64, b: f64) -> u64 {
        a.to_bits().abs_diff(b.to_bits())
    }

    #[test]
    fn within_one_ulp_of_libm() {
        let mut t = samples(300_000, 1);
        t.extend(special());
        let mut differ = 0;
        for &x in &t {
            let (got, want) = (exp_scalar(x), if x < UNDERFLOW { 0.0 } else { x.exp() });
            let d = ulps(got, want);
            assert!(d <= 1, "exp({x:e}) = {got:e}, libm {want:e}");
            differ += usize::from(d != 0);
        }
        // a 0.51-ulp exponential and a 0.5x-ulp libm rarely round differently (0.25% here)
        assert!(differ * 100 < t.len(), "{differ} of {}", t.len());
        assert_eq!(exp_scalar(0.0), 1.0);
        assert_eq!(exp_scalar(-0.0), 1.0);
        assert_eq!(exp_scalar(-746.5), 0.0);
        assert_eq!(exp_scalar(f64::NEG_INFINITY), 0.0);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn lanes_give_the_scalar_bits() {
        let Some(simd) = V3::try_new() else {
            return;
        };
        let mut t = samples(200_000, 2);
        t.extend(special());
        // groups that are all small, all underflowing, and mixed
        t.extend([-0.001, -0.0, -0.0107, -1e-9, -800.0, -900.0, -747.0, -746.0]);
        let lanes: Vec<f64> = simd.vectorize(|| {
            t.chunks(4)
                .flat_map(|c| {
                    let mut part = [0.0; 4];
                    part[..c.len()].copy_from_slice(c);
                    let v: [f64; 4] = cast(exp4(simd, cast(part)));
                    v.into_iter().take(c.len())
                })
                .collect()
        });
        for (x, v) in t.iter().zip(&lanes) {
            assert_eq!(v.to_bits(), exp_scalar(*x).to_bits(), "exp({x:e})");
        }
    }
}
