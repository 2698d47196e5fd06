//! Audit trail (DESIGN.md section 5). [`chain`] holds the pure hash-chain
//! logic shared by the gateway's chain and the console's local journal.

pub mod chain;
pub mod checkpoint;
pub mod journal;
pub mod link;
pub mod report;

/// `f` over `items`, in order, split across every core when there are many
/// (a million journal lines are parsed and hashed in seconds this way);
/// `make` gives each thread its own `f`, which may keep scratch space.
pub(crate) fn map_on_every_core<I, T, F>(items: &[I], make: impl Fn() -> F + Sync) -> Vec<T>
where
    I: Sync,
    T: Send,
    F: FnMut(&I) -> T,
{
    let run = |part: &[I]| part.iter().map(make()).collect::<Vec<T>>();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || items.len() < 10_000 {
        return run(items);
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let run = &run;
        let parts: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || run(part)))
            .collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().expect("audit worker thread"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn work_split_across_cores_comes_back_in_item_order() {
        // Enough items to be split whenever there are two cores or more.
        let items: Vec<u32> = (0..25_000).collect();
        let out = super::map_on_every_core(&items, || {
            // Per-thread state, as a parser's scratch space would be.
            let mut calls = 0u32;
            move |i: &u32| {
                calls += 1;
                (*i, calls)
            }
        });
        let order: Vec<u32> = out.iter().map(|(i, _)| *i).collect();
        assert_eq!(order, items);
        // Each thread counted its own part only.
        let parts = out.iter().filter(|(_, calls)| *calls == 1).count();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(parts > 1, cores > 1, "{parts} parts on {cores} cores");
    }
}
