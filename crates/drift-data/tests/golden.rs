//! Every catalogued (generator, variant): same seed same bits, another seed other bits, the
//! right shape, finite values, and pinned fingerprints of the variants added after the first
//! eight (those stay pinned in src/tests.rs), since cached data sets depend on them.

use drift_data::{Generator, Points, catalogue};

fn every_variant() -> Vec<Generator> {
    catalogue()
        .iter()
        .flat_map(|info| {
            info.variants.iter().map(|(v, _)| {
                Generator::from_parts(info.name, Some(v), None).expect("catalogued variant")
            })
        })
        .collect()
}

/// FNV-1a over the f32 bit patterns.
fn fingerprint(p: &Points) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in &p.values {
        for byte in v.to_bits().to_le_bytes() {
            h ^= u64::from(byte);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

#[test]
fn determinism_shapes_and_finiteness() {
    for g in every_variant() {
        let a = g.try_sample(300, 7).unwrap();
        assert_eq!(a, g.sample(300, 7), "{g:?}");
        assert_ne!(a, g.sample(300, 8), "{g:?}");
        for n in [0, 1, 2, 3, 26] {
            let p = g.try_sample(n, 1).unwrap();
            assert_eq!(p.dim, g.dim(), "{g:?}");
            assert_eq!(p.len(), n, "{g:?} n={n}");
            assert_eq!(p.values.len(), n * g.dim());
            assert!(p.values.iter().all(|v| v.is_finite()), "{g:?} n={n}");
        }
    }
}

#[test]
fn pinned_fingerprints() {
    let legacy = [
        "two_moons/ffjord",
        "two_moons/torchcfm",
        "two_moons/torchcfm_runner",
        "eight_gaussians/ffjord",
        "eight_gaussians/torchcfm",
        "eight_gaussians/torchcfm_runner",
        "checkerboard/ffjord",
        "checkerboard/runner",
    ];
    let got: Vec<(String, u64)> = every_variant()
        .into_iter()
        .map(|g| (format!("{}/{}", g.name(), g.variant_name()), g))
        .filter(|(id, _)| !legacy.contains(&id.as_str()))
        .map(|(id, g)| (id, fingerprint(&g.sample(1000, 42))))
        .collect();
    let want: &[(&str, u64)] = &[
        ("two_moons/runner", 0xe3f3_9b11_7dd2_59ca),
        ("eight_gaussians/torchdyn", 0x8665_30b9_2971_ef78),
        ("eight_gaussians/generators2d", 0xfbce_ebd7_b463_4109),
        ("gmm/agm", 0x34fb_adcc_00b9_87b0),
        ("spiral/agm", 0xd1ae_4cd9_7705_f7c8),
        ("circles/ffjord", 0x38ef_c55f_9862_5fbe),
        ("circles/torchcfm_runner", 0x2f1b_dcd8_2304_6a4a),
        ("circles/runner", 0x0183_7b24_2276_1e2b),
        ("rings/ffjord", 0x8efa_2c45_2028_ac77),
        ("spirals/ffjord", 0xddfa_64c3_43ba_b19a),
        ("spirals/torchdyn", 0x558e_dd55_791c_107d),
        ("swissroll/ffjord", 0xb4ea_5e7b_d74b_9dea),
        ("swissroll/runner", 0x0064_679d_a0e4_003a),
        ("pinwheel/ffjord", 0x0a20_8dc5_ef59_548e),
        ("pinwheel/runner", 0x5818_9560_bdd1_59e5),
        ("scurve/torchcfm_runner", 0xb83e_44ba_84fa_00d4),
        ("scurve/runner", 0xb4b6_4cfb_d650_c471),
        ("twenty_five_gaussians/wgan_gp", 0xbc31_4fac_4237_6e24),
        ("twenty_five_gaussians/generators2d", 0x4f65_15ee_2293_2551),
        ("gaussian_mixture/drift", 0xe238_0d9b_6da6_e0e4),
        ("lorenz63/drift", 0x7b92_209b_885c_8d76),
        ("rossler/drift", 0xa52f_e326_f94f_4b58),
        ("lorenz96/drift", 0xf8e9_9998_df5a_f1b5),
        ("thomas/drift", 0xf838_a875_ee90_727a),
        ("aizawa/drift", 0x66b3_d713_c72e_45cb),
        ("halvorsen/drift", 0x343c_ec60_32e7_5446),
        ("chen/drift", 0x6c1b_b308_5afd_bd42),
    ];
    let want: Vec<(String, u64)> = want.iter().map(|(n, h)| (n.to_string(), *h)).collect();
    assert_eq!(got, want, "got {got:#x?}");
}
