//! Event append through group commit: 1,000 concurrent taps per iteration against a real
//! SQLite file (WAL, synchronous=FULL), as the member API runs them.
//!   cargo bench -p gymgate-server --bench append

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gymgate_server::AppError;
use gymgate_server::testing as checkins;
use gymgate_server::testing::Store;
use gymgate_shared::{CenterId, MemberId};

const TAPS: usize = 1000;
/// Members taking turns, 1,000 per iteration: over a run each comes in a handful of times
/// this month, as real members do (with one group of 1,000 every member's month grew to
/// hundreds of visits, and counting them dominated).
const MEMBERS: usize = 20 * TAPS;
/// Centers a batch's taps spread over (the load tool's 1,000 desks are 200 centers).
const SPREAD: usize = 200;

fn benches(c: &mut Criterion) {
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        return;
    };
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let Ok(store) = Store::open_sqlite(&dir.path().join("bench.db"), Box::new(|_| {})) else {
        return;
    };
    let store = Arc::new(store);
    // Many centers and members, so every tap passes the once-per-day rule.
    let setup = runtime.block_on(store.writer.write(
        |ctx| -> Result<(Vec<CenterId>, Vec<MemberId>), AppError> {
            let now = gymgate_server::testing::ts(ctx.now);
            ctx.tx.execute(
                "INSERT INTO plans (name, visits_per_month) VALUES ('무제한', NULL)",
                &[],
            )?;
            let mut centers = Vec::new();
            for i in 0..2000 {
                let id = CenterId::generate();
                ctx.tx.execute(
                    "INSERT INTO centers (id, name, created_at) VALUES (?1, ?2, ?3)",
                    &[&id, &format!("center {i}"), &now],
                )?;
                centers.push(id);
            }
            let mut members = Vec::new();
            for i in 0..MEMBERS {
                let id = MemberId::generate();
                ctx.tx.execute(
                "INSERT INTO members (id, member_no, name, phone, pin_hash, plan_id, valid_from,
                                      valid_until, created_at)
                 VALUES (?1, ?2, ?3, '010-0000-0000', 'x', 1, '2020-01-01', '2099-12-31', ?4)",
                &[&id, &format!("B{i}"), &format!("회원{i}"), &now],
            )?;
                members.push(id);
            }
            Ok((centers, members))
        },
    ));
    let Ok((centers, members)) = setup else {
        return;
    };
    let mut round = 0usize;
    let mut group = c.benchmark_group("group commit");
    group.throughput(Throughput::Elements(TAPS as u64));
    group.sample_size(20);
    group.bench_function("1000 concurrent durable taps", |b| {
        b.to_async(&runtime).iter(|| {
            round += 1;
            let store = store.clone();
            let first = round * TAPS;
            // Tap n is member n % MEMBERS's k-th visit (k = n / MEMBERS), at center
            // (member + k) % SPREAD: a batch spreads over SPREAD centers as real traffic
            // does, and no member comes to the same center twice in a day.
            let taps: Vec<(MemberId, CenterId)> = (first..first + TAPS)
                .map(|n| {
                    let (member, visit) = (n % MEMBERS, n / MEMBERS);
                    (
                        members[member].clone(),
                        centers[(member + visit) % SPREAD].clone(),
                    )
                })
                .collect();
            async move {
                let taps = taps.into_iter().enumerate().map(|(i, (member, center))| {
                    let store = store.clone();
                    async move {
                        store
                            .writer
                            .write(move |ctx| {
                                checkins::tap(
                                    ctx,
                                    &member,
                                    &center,
                                    &format!("bench-{round}-{i}"),
                                    None,
                                    None,
                                )
                            })
                            .await
                    }
                });
                let answers = futures_util::future::join_all(taps).await;
                let refused = answers.iter().filter(|a| a.is_err()).count();
                assert_eq!(refused, 0, "every benchmark tap must be stored");
            }
        })
    });
    group.finish();
}

criterion_group!(append, benches);
criterion_main!(append);
