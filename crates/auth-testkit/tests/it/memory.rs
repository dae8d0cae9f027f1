use std::sync::Arc;

use auth_core::memory::MemoryStore;
use auth_testkit::contract::StoreHarness;

struct MemoryHarness(Arc<MemoryStore>);

impl StoreHarness for MemoryHarness {
    type Store = MemoryStore;

    async fn create(_test_name: &'static str) -> Option<Self> {
        Some(Self(Arc::new(MemoryStore::new())))
    }

    fn store(&self) -> Arc<MemoryStore> {
        Arc::clone(&self.0)
    }
}

auth_testkit::store_contract_tests!(MemoryHarness);
