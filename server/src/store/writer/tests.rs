//! The writer with a real SQLite session: batches, savepoints, failures, recovery.

use super::*;
use crate::store::Store;
use rusqlite::Connection;

async fn put(
    writer: &Writer,
    key: &'static str,
    roll_back_under_it: bool,
) -> Result<(), StoreError> {
    writer
        .write(move |ctx| -> Result<(), StoreError> {
            ctx.tx
                .execute("INSERT INTO meta (key, value) VALUES (?1, 'x')", &[&key])?;
            if roll_back_under_it {
                // What SQLite does by itself on some I/O and full-disk errors.
                ctx.tx.execute("ROLLBACK", &[])?;
            }
            Ok(())
        })
        .await
}

fn stored(path: &std::path::Path) -> Vec<String> {
    let conn = Connection::open(path).expect("connection");
    conn.prepare("SELECT key FROM meta WHERE key != 'epoch' ORDER BY key")
        .expect("query")
        .query_map([], |r| r.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("keys")
}

/// Jobs queued while the writer is busy run as one batch after it.
async fn hold_the_writer(writer: &Writer) -> tokio::task::JoinHandle<Result<(), StoreError>> {
    let (started, running) = oneshot::channel();
    let writer = writer.clone();
    let held = tokio::spawn(async move {
        writer
            .write(move |_ctx| -> Result<(), StoreError> {
                let _ = started.send(());
                std::thread::sleep(std::time::Duration::from_millis(300));
                Ok(())
            })
            .await
    });
    let _ = running.await;
    held
}

#[tokio::test]
async fn a_transaction_rolled_back_under_a_job_fails_the_batch_so_far_and_spares_the_rest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("writer.db");
    let store = Store::open_sqlite(&path, Box::new(|_| {})).expect("store");
    let writer = &store.writer;
    let held = hold_the_writer(writer).await;
    let (a, b, c) = tokio::join!(
        put(writer, "a", false),
        put(writer, "b", true),
        put(writer, "c", false)
    );
    assert!(matches!(held.await, Ok(Ok(()))));
    assert!(matches!(a, Err(StoreError::NotStored)), "{a:?}");
    assert!(matches!(b, Err(StoreError::NotStored)), "{b:?}");
    assert!(c.is_ok(), "{c:?}");
    assert_eq!(stored(&path), vec!["c".to_owned()]);
}

/// A lone job has no savepoint: when it fails, its transaction goes, and nothing of it
/// stays; batch-mates of a failed job keep their writes.
#[tokio::test]
async fn a_failed_job_leaves_nothing_alone_or_in_a_batch() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("writer.db");
    let store = Store::open_sqlite(&path, Box::new(|_| {})).expect("store");
    let writer = &store.writer;
    let fail_after_insert = |key: &'static str| {
        writer.write(move |ctx| -> Result<(), StoreError> {
            ctx.tx
                .execute("INSERT INTO meta (key, value) VALUES (?1, 'x')", &[&key])?;
            Err(StoreError::Corrupt("the job found a problem".into()))
        })
    };
    assert!(fail_after_insert("alone").await.is_err());
    put(writer, "after", false).await.expect("next job");

    let held = hold_the_writer(writer).await;
    let (a, b, c) = tokio::join!(
        put(writer, "a", false),
        fail_after_insert("b"),
        put(writer, "c", false)
    );
    assert!(matches!(held.await, Ok(Ok(()))));
    assert!(a.is_ok() && b.is_err() && c.is_ok(), "{a:?} {b:?} {c:?}");
    assert_eq!(stored(&path), vec!["a", "after", "c"]);
}

/// A transaction an earlier batch left open (its COMMIT and ROLLBACK both failed) is
/// ended before the next batch begins, or no batch could ever begin again.
#[test]
fn a_transaction_left_open_is_ended_before_the_next_batch() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("writer.db");
    let store = Store::open_sqlite(&path, Box::new(|_| {})).expect("store");
    let (_sqlite, mut session, _) = crate::store::sqlite::open(&path).expect("session");
    session
        .control("BEGIN")
        .and_then(|()| {
            session
                .conn()
                .execute(
                    "INSERT INTO meta (key, value) VALUES ('left open', 'x')",
                    &[],
                )
                .map(|_| ())
        })
        .expect("a transaction left open");
    let (reply, answer) = std::sync::mpsc::channel();
    let job: Job = Box::new(move |ctx| Outcome {
        ok: ctx
            .tx
            .execute("INSERT INTO meta (key, value) VALUES ('next', 'x')", &[])
            .is_ok(),
        finish: Box::new(move |committed| {
            let _ = reply.send(committed.is_ok());
        }),
    });
    let publish: Publisher = Box::new(|_| {});
    run_batch(
        &mut session,
        &mut vec![job],
        &publish,
        &CommitStats::default(),
    );
    assert_eq!(answer.recv(), Ok(true), "the next batch ran and committed");
    assert_eq!(stored(&path), vec!["next"]);
    drop(store);
}
