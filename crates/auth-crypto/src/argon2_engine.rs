//! The argon2 computation itself. `argon2-rust` (a port of the reference implementation with
//! runtime-selected SIMD) computes the tags: on the benchmark machine it took half the time of
//! the `argon2` crate for the same parameters, which doubles sign-ins per core
//! (docs/benchmarks.md). The `argon2` crate stays for what it does well: reading and writing
//! PHC strings, and the parameter types the cost bounds are written in.

use argon2::{Algorithm, Params, Version};
use argon2_rust::params::{Memory, TagLen};

/// One hashing thread's argon2 memory, kept between hashes: mapping and faulting in 19 MiB per
/// hash costs a quarter of a hash, and freeing it each time leaves the allocator holding more.
#[derive(Default)]
pub(crate) struct Engine {
    /// Made by the first hash (it needs a configuration); every hash sets its own.
    hasher: Option<argon2_rust::Hasher>,
}

impl Engine {
    /// Writes the tag of `password` and `salt` under `algorithm`, `version` and `params` into
    /// `out`, whose length is the tag length.
    pub(crate) fn compute(
        &mut self,
        algorithm: Algorithm,
        version: Version,
        params: &Params,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> Result<(), String> {
        let config = argon2_rust::Argon2::new(
            engine_algorithm(algorithm),
            engine_version(version),
            engine_params(params, out.len())?,
        );
        let hasher = match &mut self.hasher {
            Some(hasher) => {
                hasher.set_argon2(config);
                hasher
            }
            None => self.hasher.insert(config.hasher()),
        };
        hasher.hash_into(password, salt, out).map_err(|e| format!("hashing failed: {e}"))
    }

    /// Gives the memory back when it is more than `params` need (a costlier stored hash grew
    /// it); the next hash maps it again at the right size.
    pub(crate) fn keep_at_most(&mut self, params: &Params) {
        if let Some(hasher) = &mut self.hasher
            && hasher.reserved_blocks() > params.block_count()
        {
            hasher.clear();
        }
    }

    /// Blocks of memory held between hashes.
    #[cfg(test)]
    pub(crate) fn held_blocks(&self) -> usize {
        self.hasher.as_ref().map_or(0, argon2_rust::Hasher::reserved_blocks)
    }
}

/// The same cost in the engine's terms, on one thread: a hashing slot is one thread, whatever
/// the lanes of a stored hash (the lanes decide the tag, the threads only the speed).
fn engine_params(params: &Params, tag_len: usize) -> Result<argon2_rust::Params, String> {
    let tag_len = u64::try_from(tag_len).map_err(|e| e.to_string())?;
    argon2_rust::Params::builder()
        .memory(Memory::kib(u64::from(params.m_cost())))
        .passes(params.t_cost())
        .lanes(params.p_cost())
        .threads(1)
        .tag_len(TagLen::bytes(tag_len))
        .build()
        .map_err(|e| format!("parameters the engine refuses: {e}"))
}

fn engine_algorithm(algorithm: Algorithm) -> argon2_rust::Algorithm {
    match algorithm {
        Algorithm::Argon2d => argon2_rust::Algorithm::Argon2d,
        Algorithm::Argon2i => argon2_rust::Algorithm::Argon2i,
        Algorithm::Argon2id => argon2_rust::Algorithm::Argon2id,
    }
}

fn engine_version(version: Version) -> argon2_rust::Version {
    match version {
        Version::V0x10 => argon2_rust::Version::V0x10,
        Version::V0x13 => argon2_rust::Version::V0x13,
    }
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::phc::PasswordHash as Phc;
    use argon2::{Argon2, PasswordHasher as _};

    use super::*;

    /// The reference implementation's own test vectors (version 0x13, no secret or associated
    /// data, as passwords are hashed).
    const REFERENCE: [(Algorithm, u32, u32, u32, &str, &str, &str); 4] = [
        (
            Algorithm::Argon2i,
            65536,
            2,
            1,
            "password",
            "somesalt",
            "c1628832147d9720c5bd1cfd61367078729f6dfb6f8fea9ff98158e0d7816ed0",
        ),
        (
            Algorithm::Argon2i,
            256,
            2,
            1,
            "password",
            "somesalt",
            "89e9029f4637b295beb027056a7336c414fadd43f6b208645281cb214a56452f",
        ),
        (
            Algorithm::Argon2id,
            65536,
            2,
            1,
            "password",
            "somesalt",
            "09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7",
        ),
        (
            Algorithm::Argon2id,
            256,
            2,
            1,
            "password",
            "somesalt",
            "9dfeb910e80bad0311fee20f9c0e2b12c17987b4cac90c2ef54d5b3021c68bfe",
        ),
    ];

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// RFC 9106 §5 (version 0x13, 32 KiB, 3 passes, 4 lanes, with a secret and associated data,
    /// which only the engine's lower-level call takes).
    #[test]
    fn rfc_9106_vectors_match() {
        let vectors = [
            (argon2_rust::Algorithm::Argon2d, "512b391b6f1162975371d30919734294f868e3be3984f3c1a13a4db9fabe4acb"),
            (argon2_rust::Algorithm::Argon2i, "c814d9d1dc7f37aa13f0d77f2494bda1c8de6b016dd388d29952a4c4672b6ce8"),
            (argon2_rust::Algorithm::Argon2id, "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"),
        ];
        let params = argon2_rust::Params::builder().memory(Memory::kib(32)).passes(3).lanes(4).build().unwrap();
        for (algorithm, expected) in vectors {
            let mut out = [0u8; 32];
            argon2_rust::Argon2::new(algorithm, argon2_rust::Version::V0x13, params)
                .hash_into_with_ad(&[1; 32], &[2; 16], &[3; 8], &[4; 12], &mut out)
                .unwrap();
            assert_eq!(hex(&out), expected, "{algorithm:?}");
        }
    }

    #[test]
    fn reference_vectors_match() {
        let mut engine = Engine::default();
        for (algorithm, m, t, p, password, salt, expected) in REFERENCE {
            let params = Params::new(m, t, p, None).unwrap();
            let mut out = [0u8; 32];
            engine.compute(algorithm, Version::V0x13, &params, password.as_bytes(), salt.as_bytes(), &mut out).unwrap();
            assert_eq!(hex(&out), expected, "{algorithm:?} m={m} t={t} p={p}");
        }
    }

    /// The same tag as the argon2 crate for every variant, version and shape a stored hash can
    /// have within the cost bounds, so a hash either wrote verifies with the other.
    #[test]
    fn agrees_with_the_argon2_crate() {
        let mut engine = Engine::default();
        let cases = [
            (Algorithm::Argon2id, Version::V0x13, 256, 1, 1, 32),
            (Algorithm::Argon2id, Version::V0x13, 512, 3, 2, 32),
            (Algorithm::Argon2id, Version::V0x13, 4096, 2, 4, 64),
            (Algorithm::Argon2i, Version::V0x13, 1024, 2, 1, 16),
            (Algorithm::Argon2d, Version::V0x13, 1024, 1, 3, 32),
            (Algorithm::Argon2id, Version::V0x10, 1024, 2, 1, 32),
            (Algorithm::Argon2i, Version::V0x10, 256, 4, 2, 24),
        ];
        for (algorithm, version, m, t, p, len) in cases {
            let params = Params::new(m, t, p, Some(len)).unwrap();
            for (password, salt) in [(&b"correct horse"[..], &b"saltsaltsalt"[..]), (b"", b"0123456789abcdef")] {
                let mut theirs = vec![0u8; len];
                Argon2::new(algorithm, version, params.clone())
                    .hash_password_into(password, salt, &mut theirs)
                    .unwrap();
                let mut ours = vec![0u8; len];
                engine.compute(algorithm, version, &params, password, salt, &mut ours).unwrap();
                assert_eq!(ours, theirs, "{algorithm:?} {version:?} m={m} t={t} p={p} len={len}");
            }
        }
    }

    #[test]
    fn a_phc_string_of_the_argon2_crate_recomputes() {
        let params = Params::new(1024, 2, 1, None).unwrap();
        let phc = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone()).hash_password(b"pw").unwrap();
        let parsed = Phc::new(&phc.to_string()).unwrap();
        let (salt, expected) = (parsed.salt.unwrap(), parsed.hash.unwrap());
        let mut out = vec![0u8; expected.len()];
        Engine::default().compute(Algorithm::Argon2id, Version::V0x13, &params, b"pw", &salt, &mut out).unwrap();
        assert_eq!(out, expected.as_bytes());
    }

    #[test]
    fn memory_is_kept_and_excess_given_back() {
        let mut engine = Engine::default();
        let small = Params::new(256, 1, 1, None).unwrap();
        let big = Params::new(2048, 1, 1, None).unwrap();
        let mut out = [0u8; 32];
        engine.compute(Algorithm::Argon2id, Version::V0x13, &small, b"pw", b"somesalt", &mut out).unwrap();
        assert_eq!(engine.held_blocks(), 256);
        engine.compute(Algorithm::Argon2id, Version::V0x13, &big, b"pw", b"somesalt", &mut out).unwrap();
        assert_eq!(engine.held_blocks(), 2048);
        engine.keep_at_most(&small);
        assert!(engine.held_blocks() <= 256, "{}", engine.held_blocks());
    }
}
