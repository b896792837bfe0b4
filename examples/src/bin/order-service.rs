//! order-service: replays the incident mapguard was built for.
//!
//! Four request workers place orders into a shared order cache and take stock with
//! get-then-insert; a cleanup thread walks the cache and removes expired orders.
//! Safe Rust compiles it, ThreadSanitizer finds nothing, and sales go missing.
//! With mapguard on (the default here) the run ends with a report of each hazard
//! and both call sites.
//!
//! `--fixed` runs the corrected service: both maps declared concurrent by design
//! (key scope, `concurrent_write` off, the hazard rules still on), stock taken with
//! `update` (an atomic read-modify-write), and the cleanup walking a `snapshot()`
//! (a consistent copy: no lock held while it audits) and removing an expired order
//! with `remove_if_eq` (only if nobody replaced it since the snapshot). It finishes
//! with zero findings and no lost sale, with the guard still on.
//!
//! The maps are declared with `#[mapguard::guarded]`: each field names its map where
//! it is declared, and `place_order` is attributed, so findings made while an order
//! is placed say so (`in order_service::place_order`) and group by that function.
//!
//! `MAPGUARD=off` turns the guard off; the other `MAPGUARD_*` variables apply.

use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use mapguard::{Config, DashMap, FindingKind, Memory, Rules, Scope};

const WORKERS: u64 = 4;
const ORDERS_PER_WORKER: u64 = 50;
const SKUS: u32 = 3;
const START_STOCK: u32 = 1_000;
const TTL: Duration = Duration::from_millis(30);

#[derive(Clone, Debug, PartialEq)]
struct Order {
    sku: u32,
    qty: u32,
    placed: Instant,
}

#[mapguard::guarded]
struct Shop {
    #[guard(name = "orders")]
    orders: DashMap<u64, Order>,
    #[guard(name = "stock")]
    stock: DashMap<u32, u32>,
    fixed: bool,
}

impl Shop {
    fn new(fixed: bool) -> Self {
        // Stocked at construction, before any worker runs (not a checked write).
        let stocked = || {
            (0..SKUS)
                .map(|sku| (sku, START_STOCK))
                .collect::<DashMap<_, _>>()
        };
        // The names come from the declaration: `Default` and `.into()` apply it.
        let shop = Shop {
            orders: Default::default(),
            stock: stocked().into(),
            fixed,
        };
        if !fixed {
            return shop;
        }
        // Both maps are written by every worker on purpose: check them per key and
        // keep only the hazard rules.
        fn by_design<K, V>(m: DashMap<K, V>) -> DashMap<K, V> {
            m.with_scope(Scope::Key)
                .with_rules(Rules::ALL.without(FindingKind::ConcurrentWrite))
        }
        Shop {
            orders: shop.orders.with(by_design),
            stock: shop.stock.with(by_design),
            fixed,
        }
    }

    #[mapguard::guarded]
    fn place_order(&self, id: u64, order: Order) {
        let (sku, qty) = (order.sku, order.qty);
        self.orders.insert(id, order);
        if self.fixed {
            self.stock.update(&sku, |left| *left -= qty);
        } else {
            let left = *self.stock.get(&sku).expect("every sku is stocked");
            check_price(); // another worker may sell the same sku meanwhile
            self.stock.insert(sku, left - qty);
        }
    }

    fn remove_expired(&self) -> usize {
        let now = Instant::now();
        if self.fixed {
            // A consistent copy: the slow audit holds no lock, and the workers'
            // writes meanwhile neither tear the walk nor wait for it.
            let orders = self.orders.snapshot();
            let mut removed = 0;
            for (id, order) in &orders {
                audit(order);
                // Removed only if it is still the order the snapshot saw.
                if now.duration_since(order.placed) >= TTL && self.orders.remove_if_eq(id, order) {
                    removed += 1;
                }
            }
            removed
        } else {
            let mut expired = Vec::new();
            for entry in self.orders.iter() {
                audit(entry.value()); // slow: the workers go on writing meanwhile
                if now.duration_since(entry.placed) >= TTL {
                    expired.push(*entry.key());
                }
            }
            for id in &expired {
                self.orders.remove(id);
            }
            expired.len()
        }
    }
}

fn check_price() {
    thread::sleep(Duration::from_micros(300));
}

fn audit(_: &Order) {
    thread::sleep(Duration::from_micros(20));
}

fn main() -> ExitCode {
    let fixed = std::env::args().any(|a| a == "--fixed");
    let memory = Memory::new();
    // The guard is on for this demo unless MAPGUARD says otherwise.
    let explicit = std::env::var_os("MAPGUARD").is_some();
    let config = match Config::from_env() {
        Ok(c) if explicit => c,
        Ok(c) => c.enabled(true),
        Err(e) => {
            eprintln!("order-service: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = config.sink(memory.clone()).install() {
        eprintln!("order-service: {e}");
        return ExitCode::FAILURE;
    }

    let started = Instant::now();
    let shop = Shop::new(fixed);
    let sold_per_sku = run(&shop);
    mapguard::flush();

    let sold: u32 = sold_per_sku.iter().sum();
    let left: u32 = (0..SKUS)
        .map(|s| shop.stock.get_cloned(&s).expect("every sku is stocked"))
        .sum();
    let taken = SKUS * START_STOCK - left;
    let findings = memory.findings();
    let count = |k: FindingKind| findings.iter().filter(|f| f.kind == k).count();
    let occurrences: u64 = findings.iter().map(|f| f.occurrences).sum();
    println!(
        "order-service{}: {} orders, {sold} units sold, stock down by {taken} ({} sales lost) in {:.1?}; \
         mapguard: {} findings ({} concurrent_write, {} lost_update, {} write_during_iteration, \
         {} reentrant_access), {occurrences} occurrences",
        if fixed { " --fixed" } else { "" },
        WORKERS * ORDERS_PER_WORKER,
        sold - taken,
        started.elapsed(),
        findings.len(),
        count(FindingKind::ConcurrentWrite),
        count(FindingKind::LostUpdate),
        count(FindingKind::WriteDuringIteration),
        count(FindingKind::ReentrantAccess),
    );
    ExitCode::SUCCESS
}

/// Runs the workers and the cleanup thread; returns units sold per sku.
fn run(shop: &Shop) -> Vec<u32> {
    let done = std::sync::atomic::AtomicBool::new(false);
    thread::scope(|s| {
        let cleanup = thread::Builder::new()
            .name("cleanup".into())
            .spawn_scoped(s, || {
                let mut removed = 0;
                // Every 10 ms, and once more after the workers are done, so the
                // orders that expired by then go too.
                loop {
                    let last = done.load(std::sync::atomic::Ordering::Relaxed);
                    removed += shop.remove_expired();
                    if last {
                        break removed;
                    }
                    thread::sleep(Duration::from_millis(10));
                }
            })
            .expect("spawn cleanup");
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                thread::Builder::new()
                    .name(format!("worker-{}", w + 1))
                    .spawn_scoped(s, move || {
                        let mut sold = vec![0; SKUS as usize];
                        for i in 0..ORDERS_PER_WORKER {
                            let sku = ((w + i) % SKUS as u64) as u32;
                            let order = Order {
                                sku,
                                qty: 1,
                                placed: Instant::now(),
                            };
                            shop.place_order(w * 1_000 + i, order);
                            sold[sku as usize] += 1;
                            thread::sleep(Duration::from_micros(500));
                        }
                        sold
                    })
                    .expect("spawn worker")
            })
            .collect();
        let mut sold = vec![0; SKUS as usize];
        for w in workers {
            for (total, n) in sold.iter_mut().zip(w.join().expect("worker")) {
                *total += n;
            }
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        cleanup.join().expect("cleanup");
        sold
    })
}
