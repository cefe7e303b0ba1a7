//! The ordered parallel executor: work on every core, results in list order.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

/// Runs `work` on every item, on every thread of rayon's pool, and hands the
/// results to `sink` on this thread in the items' order as they come in.
/// Stops taking new items once `sink` breaks. Returns how many items `sink`
/// saw. Each worker keeps a state made by `init` (its Argon2id memory).
///
/// Workers take the next item from a shared counter rather than splitting
/// the list, so results arrive nearly in order and few wait to be handed on.
pub(super) fn for_each_in_order<T: Sync, S, R: Send>(
    items: &[T],
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, &T) -> R + Sync,
    mut sink: impl FnMut(&T, R) -> ControlFlow<()>,
) -> usize {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    // Bounded: if the sink is slow (a slow pipe, a slow disk), workers wait.
    let (tx, rx) = mpsc::sync_channel(2 * rayon::current_num_threads());
    std::thread::scope(|scope| {
        let (next, stop, init, work) = (&next, &stop, &init, &work);
        scope.spawn(move || {
            // Inside the spawned thread, so that this thread is free to write.
            rayon::broadcast(|_| {
                let mut state = init();
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    if tx.send((i, work(&mut state, item))).is_err() {
                        break;
                    }
                }
            });
        });
        let mut waiting = BTreeMap::new();
        let mut handed = 0;
        for (i, result) in rx {
            waiting.insert(i, result);
            while let Some(result) = waiting.remove(&handed) {
                let flow = sink(&items[handed], result);
                handed += 1;
                if flow.is_break() {
                    stop.store(true, Ordering::Relaxed);
                    return handed;
                }
            }
        }
        handed
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_handed_on_in_order() {
        let items: Vec<u64> = (0..500).collect();
        let mut seen = Vec::new();
        let handed = for_each_in_order(
            &items,
            || (),
            |(), &i| {
                // Uneven work, so that results finish out of order.
                std::thread::sleep(std::time::Duration::from_micros((i * 7919) % 500));
                i * 2
            },
            |&item, result| {
                assert_eq!(result, item * 2);
                seen.push(item);
                ControlFlow::Continue(())
            },
        );
        assert_eq!(handed, 500);
        assert_eq!(seen, items);
    }

    #[test]
    fn a_break_stops_the_work() {
        let items: Vec<u32> = (0..10_000).collect();
        let worked = AtomicUsize::new(0);
        let handed = for_each_in_order(
            &items,
            || (),
            |(), _| {
                worked.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(1));
            },
            |&item, ()| {
                if item == 9 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        );
        assert_eq!(handed, 10);
        // Past the break, only what was queued or in flight was worked on:
        // a few items per thread, unless a stalled worker let others run
        // ahead. Without the stop, all 10,000 (10 s of work) would be.
        let worked = worked.into_inner();
        assert!(worked < 1_000, "{worked} items worked on after a break at 10");
    }
}
