use argon2::Params;
use argon2::password_hash::phc::PasswordHash as Phc;

use crate::argon2_hasher::Argon2Params;

/// Highest bcrypt cost verified (2^14 rounds, about a second of one core).
const MAX_BCRYPT_COST: u32 = 14;
/// Most argon2 memory verified, KiB (256 MiB).
const MAX_ARGON2_MEMORY_KIB: u32 = 256 * 1024;
/// Most argon2 passes verified.
const MAX_ARGON2_ITERATIONS: u32 = 10;
/// Most argon2 lanes verified.
const MAX_ARGON2_PARALLELISM: u32 = 8;

/// A stored hash asks for more work than a sign-in may cost. Verifying it would pin a hashing
/// thread for a long time or allocate (and keep) a large block of memory per thread, so one
/// such account could stall every sign-in; such a password must be reset instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsafeHash {
    /// bcrypt with too high a cost.
    #[error("bcrypt cost {cost} is above the highest accepted, {max}; reset this user's password")]
    BcryptCost {
        /// The hash's cost.
        cost: u32,
        /// The highest accepted.
        max: u32,
    },
    /// argon2 with too much memory, too many passes or too many lanes.
    #[error(
        "argon2 parameters m={memory_kib},t={iterations},p={parallelism} exceed the accepted \
         m<={max_memory_kib},t<={max_iterations},p<={max_parallelism}; reset this user's password"
    )]
    Argon2Cost {
        /// Memory, KiB.
        memory_kib: u32,
        /// Passes.
        iterations: u32,
        /// Lanes.
        parallelism: u32,
        /// Most memory accepted, KiB.
        max_memory_kib: u32,
        /// Most passes accepted.
        max_iterations: u32,
        /// Most lanes accepted.
        max_parallelism: u32,
    },
    /// A bcrypt or argon2 hash whose cost cannot be read.
    #[error("the hash's cost parameters are unreadable")]
    Unreadable,
}

/// The highest costs a stored hash may ask for: bcrypt cost 14; argon2 256 MiB, 10 passes,
/// 8 lanes; raised to the hasher's own parameters when those are higher, so hashes it wrote
/// itself always verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostBounds {
    bcrypt_cost: u32,
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
}

impl Default for CostBounds {
    fn default() -> Self {
        Self {
            bcrypt_cost: MAX_BCRYPT_COST,
            memory_kib: MAX_ARGON2_MEMORY_KIB,
            iterations: MAX_ARGON2_ITERATIONS,
            parallelism: MAX_ARGON2_PARALLELISM,
        }
    }
}

impl CostBounds {
    /// The default bounds, raised to `own` (the parameters new hashes are made with).
    pub fn admitting(own: Argon2Params) -> Self {
        let default = Self::default();
        Self {
            bcrypt_cost: default.bcrypt_cost,
            memory_kib: default.memory_kib.max(own.memory_kib),
            iterations: default.iterations.max(own.iterations),
            parallelism: default.parallelism.max(own.parallelism),
        }
    }

    /// Checks the costs of a stored hash (as it would be imported or verified). bcrypt and
    /// argon2 hashes are held to the bounds; hashes of other schemes have no cost read here
    /// and pass (the hasher matches them to nothing).
    pub fn check(&self, stored: &str) -> Result<(), UnsafeHash> {
        if let Some(rest) = ["$2a$", "$2b$", "$2y$"].iter().find_map(|prefix| stored.strip_prefix(prefix)) {
            let cost: u32 = rest.get(..2).and_then(|c| c.parse().ok()).ok_or(UnsafeHash::Unreadable)?;
            if cost > self.bcrypt_cost {
                return Err(UnsafeHash::BcryptCost { cost, max: self.bcrypt_cost });
            }
            return Ok(());
        }
        if !stored.starts_with("$argon2") {
            return Ok(());
        }
        let phc = Phc::new(stored).map_err(|_| UnsafeHash::Unreadable)?;
        let params = Params::try_from(&phc).map_err(|_| UnsafeHash::Unreadable)?;
        let (memory_kib, iterations, parallelism) = (params.m_cost(), params.t_cost(), params.p_cost());
        if memory_kib > self.memory_kib || iterations > self.iterations || parallelism > self.parallelism {
            return Err(UnsafeHash::Argon2Cost {
                memory_kib,
                iterations,
                parallelism,
                max_memory_kib: self.memory_kib,
                max_iterations: self.iterations,
                max_parallelism: self.parallelism,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bcrypt hash of cost `cost` (not a valid digest; only the cost is read).
    fn bcrypt(cost: u32) -> String {
        format!("$2b${cost:02}$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234")
    }

    fn argon2(m: u32, t: u32, p: u32) -> String {
        format!("$argon2id$v=19$m={m},t={t},p={p}$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g")
    }

    #[test]
    fn costs_within_bounds_pass_and_beyond_them_are_refused() {
        let bounds = CostBounds::default();
        assert_eq!(bounds.check(&bcrypt(10)), Ok(()));
        assert_eq!(bounds.check(&bcrypt(14)), Ok(()));
        assert_eq!(bounds.check(&bcrypt(15)), Err(UnsafeHash::BcryptCost { cost: 15, max: 14 }));
        assert_eq!(bounds.check(&bcrypt(31)), Err(UnsafeHash::BcryptCost { cost: 31, max: 14 }));
        assert_eq!(bounds.check("$2y$xx$abc"), Err(UnsafeHash::Unreadable));
        assert_eq!(bounds.check(&argon2(19_456, 2, 1)), Ok(()));
        assert_eq!(bounds.check(&argon2(262_144, 10, 8)), Ok(()));
        for (m, t, p) in [(4_194_304, 1, 1), (262_145, 1, 1), (65_536, 11, 1), (65_536, 1, 9)] {
            assert!(matches!(bounds.check(&argon2(m, t, p)), Err(UnsafeHash::Argon2Cost { .. })), "m={m},t={t},p={p}");
        }
        assert_eq!(bounds.check("$argon2id$v=19$m=oops$x$y"), Err(UnsafeHash::Unreadable));
        assert_eq!(bounds.check("$pbkdf2-sha256$i=1000$c2FsdA$aGFzaA"), Ok(()), "no cost read for other schemes");
    }

    #[test]
    fn the_hashers_own_parameters_are_always_admitted() {
        let own = Argon2Params { memory_kib: 524_288, iterations: 12, parallelism: 1 };
        assert_eq!(CostBounds::admitting(own).check(&argon2(524_288, 12, 1)), Ok(()));
        assert!(CostBounds::admitting(own).check(&argon2(524_289, 12, 1)).is_err());
    }

    #[test]
    fn the_message_says_what_to_do() {
        let message = CostBounds::default().check(&bcrypt(20)).unwrap_err().to_string();
        assert!(message.contains("cost 20") && message.contains("reset"), "{message}");
    }
}
