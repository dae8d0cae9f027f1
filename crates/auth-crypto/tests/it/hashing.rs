//! Stored hashes an attacker (or an import) can influence: their cost is bounded, and a failed
//! check does not tell by its time what kind of hash the account has.

use std::time::{Duration, Instant};

use auth_core::domain::{Password, PasswordHash};
use auth_core::ports::{PasswordCheck, PasswordHasher};
use auth_crypto::{Argon2Hasher, Argon2Params};

fn tiny() -> Argon2Params {
    Argon2Params { memory_kib: 256, iterations: 1, parallelism: 1 }
}

#[tokio::test]
async fn a_bcrypt_hash_of_extreme_cost_is_refused_at_once() {
    let hasher = Argon2Hasher::new(tiny(), 1).unwrap();
    // A well-formed bcrypt hash of cost 20 (a real one with its cost raised) would hold the
    // hashing thread for minutes.
    let real = bcrypt::hash("correct horse", 4).unwrap();
    let stored = PasswordHash::new(real.replacen("$04$", "$20$", 1));
    let answer = tokio::time::timeout(Duration::from_secs(30), hasher.verify(&Password::new("x"), Some(&stored)))
        .await
        .expect("refused without being computed");
    assert!(answer.is_err(), "{answer:?}");
}

#[tokio::test]
async fn a_failure_for_an_unknown_account_takes_as_long_as_one_for_an_imported_bcrypt_hash() {
    let hasher = Argon2Hasher::new(tiny(), 1).unwrap();
    let stored = PasswordHash::new(bcrypt::hash("correct horse", 8).unwrap());
    let started = Instant::now();
    assert_eq!(hasher.verify(&Password::new("wrong"), Some(&stored)).await.unwrap(), PasswordCheck::Mismatch);
    let bcrypt_failure = started.elapsed();
    let started = Instant::now();
    assert_eq!(hasher.verify(&Password::new("wrong"), None).await.unwrap(), PasswordCheck::Mismatch);
    let unknown_failure = started.elapsed();
    // A lower bound with a wide margin, never an upper one: this holds on any machine.
    assert!(unknown_failure >= bcrypt_failure / 2, "unknown {unknown_failure:?}, bcrypt {bcrypt_failure:?}");
    // A right password is never slowed down.
    let started = Instant::now();
    let check = hasher.verify(&Password::new("correct horse"), Some(&stored)).await.unwrap();
    assert_eq!(check, PasswordCheck::Match { needs_rehash: true });
    assert!(started.elapsed() < bcrypt_failure * 20, "no padding on success");
}

/// An operator's `password_hash` (`POST /admin/users`) is stored only when sign-in could verify
/// it at a bounded cost: the same bounds as verification.
#[tokio::test]
async fn hashes_made_elsewhere_are_stored_only_within_the_cost_bounds() {
    let hasher = Argon2Hasher::new(tiny(), 1).unwrap();
    let bcrypt_10 = bcrypt::hash("correct horse", 10).unwrap();
    let argon2 = hasher.hash(&Password::new("correct horse")).await.unwrap();
    for fine in [bcrypt_10.clone(), bcrypt_10.replacen("$2b$", "$2a$", 1), argon2.as_str().to_owned()] {
        assert_eq!(hasher.check_stored(&PasswordHash::new(fine.clone())), Ok(()), "{fine}");
    }
    let costly_bcrypt = bcrypt_10.replacen("$10$", "$15$", 1);
    let costly_argon2 =
        "$argon2id$v=19$m=1048576,t=3,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
    for refused in [costly_bcrypt.as_str(), costly_argon2, "plain text", "$2b$10$short", "$scrypt$ln=4,r=8,p=1$x$y"] {
        let answer = hasher.check_stored(&PasswordHash::new(refused));
        assert!(answer.is_err(), "{refused}: {answer:?}");
    }
}
