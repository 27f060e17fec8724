use super::*;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, Store};

/// A component of four core instances, each with a memory of its own, and a `grow-N`
/// export per memory: what a hostile guest builds to multiply a per-memory limit.
const FOUR_MEMORIES: &str = r#"
(component
  (core module $m
    (memory 1)
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))
  (core instance $a (instantiate $m))
  (core instance $b (instantiate $m))
  (core instance $c (instantiate $m))
  (core instance $d (instantiate $m))
  (func (export "grow-a") (param "pages" u32) (result s32) (canon lift (core func $a "grow")))
  (func (export "grow-b") (param "pages" u32) (result s32) (canon lift (core func $b "grow")))
  (func (export "grow-c") (param "pages" u32) (result s32) (canon lift (core func $c "grow")))
  (func (export "grow-d") (param "pages" u32) (result s32) (canon lift (core func $d "grow")))
)
"#;

const MIB: usize = 1 << 20;
/// 100 MiB in 64 KiB pages.
const HUNDRED_MIB_PAGES: u32 = 1600;

fn setup(limiter: InstanceLimiter) -> (Store<InstanceLimiter>, wasmtime::component::Instance) {
    let engine = Engine::new(&Config::new()).unwrap();
    let component = Component::new(&engine, wat::parse_str(FOUR_MEMORIES).unwrap()).unwrap();
    let mut store = Store::new(&engine, limiter);
    store.limiter(|l| l);
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &component)
        .unwrap();
    (store, instance)
}

fn grow(
    store: &mut Store<InstanceLimiter>,
    instance: &wasmtime::component::Instance,
    which: &str,
) -> i32 {
    let f = instance
        .get_typed_func::<(u32,), (i32,)>(&mut *store, &format!("grow-{which}"))
        .unwrap();
    let (result,) = f.call(&mut *store, (HUNDRED_MIB_PAGES,)).unwrap();
    result
}

#[test]
fn the_limit_covers_every_memory_of_the_instance() {
    let (mut store, instance) = setup(InstanceLimiter::new(256 * MIB, None));
    assert_eq!(grow(&mut store, &instance, "a"), 1, "first 100 MiB");
    assert_eq!(
        grow(&mut store, &instance, "b"),
        1,
        "second 100 MiB, another memory"
    );
    // A third memory's 100 MiB would take the instance past 256 MiB in all.
    assert_eq!(grow(&mut store, &instance, "c"), -1);
    assert_eq!(grow(&mut store, &instance, "d"), -1);
}

#[test]
fn the_host_budget_is_shared_and_returned_when_a_store_ends() {
    let host = Arc::new(HostMemoryBudget::new(150 * MIB as u64));
    let (mut store, instance) = setup(InstanceLimiter::new(256 * MIB, Some(host.clone())));
    assert_eq!(grow(&mut store, &instance, "a"), 1);
    // Within the instance's own limit, but past the host's: an error (the request's 503),
    // not a -1 the guest could mistake for its own limit.
    let f = instance
        .get_typed_func::<(u32,), (i32,)>(&mut store, "grow-b")
        .unwrap();
    let err = f.call(&mut store, (HUNDRED_MIB_PAGES,)).unwrap_err();
    assert!(
        err.chain().any(|e| e.is::<HostMemoryExhausted>()),
        "{err:?}"
    );
    assert!(host.used() >= 100 * MIB as u64);
    drop(store);
    assert_eq!(host.used(), 0, "a dropped store returns what it held");
}
