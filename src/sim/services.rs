//! Starting and stopping the three simulated services together.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::Utc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::metrics::ServiceMetrics;
use super::writer::LogWriter;
use super::{Service, SimError, SimOptions, server};

/// The running simulation. Dropping it (or [`SimServices::stop`]) ends
/// every task; the files stay.
pub struct SimServices {
    dir: PathBuf,
    metrics: Vec<(Service, SocketAddr)>,
    tasks: Vec<JoinHandle<()>>,
}

impl SimServices {
    /// Writes each service's log history under `dir`, binds its metrics
    /// endpoint and starts its tasks. On return the log files hold the
    /// back-filled history and the endpoints answer.
    pub async fn start(dir: &Path, opts: SimOptions) -> Result<SimServices, SimError> {
        opts.check()?;
        let mut sim = SimServices {
            dir: dir.to_path_buf(),
            metrics: Vec::new(),
            tasks: Vec::new(),
        };
        // The timeline's zero, and the wall-clock time it stands for.
        let started = Instant::now();
        let started_at = Utc::now();
        // On an early return, `sim` is dropped and aborts what was spawned.
        for service in Service::ALL {
            let writer = LogWriter::open(sim.log_path(service), service, &opts, started_at).await?;
            let (listener, addr) = server::listen(service).await?;
            let metrics = ServiceMetrics::new(service, opts.timeline.clone());
            sim.metrics.push((service, addr));
            sim.tasks
                .push(tokio::spawn(server::serve(listener, metrics, started)));
            sim.tasks.push(tokio::spawn(writer.run(started)));
        }
        Ok(sim)
    }

    pub fn services(&self) -> [Service; 3] {
        Service::ALL
    }

    /// The file the gateway's `file` source follows: `DIR/<service>/<service>.log`
    /// (rotated files beside it are `<service>.log.1` …).
    pub fn log_path(&self, service: Service) -> PathBuf {
        self.dir
            .join(service.name())
            .join(format!("{}.log", service.name()))
    }

    /// Where the service's metrics endpoint listens.
    pub fn metrics_addr(&self, service: Service) -> SocketAddr {
        self.metrics
            .iter()
            .find(|(s, _)| *s == service)
            .map(|(_, addr)| *addr)
            .expect("start binds every service")
    }

    /// `http://127.0.0.1:PORT/metrics`
    pub fn metrics_url(&self, service: Service) -> String {
        format!("http://{}/metrics", self.metrics_addr(service))
    }

    /// Ends every task and waits until they have ended.
    pub async fn stop(mut self) {
        let tasks = std::mem::take(&mut self.tasks);
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
    }
}

impl Drop for SimServices {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::parse;
    use crate::sim::Timeline;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A bare HTTP/1.0 GET: the test needs no HTTP client dependency.
    async fn get(addr: SocketAddr, path: &str) -> (String, String) {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        (head.to_string(), body.to_string())
    }

    fn requests_total(body: &str) -> f64 {
        parse(body)
            .unwrap()
            .iter()
            .filter(|f| f.name == "http_requests_total")
            .flat_map(|f| &f.samples)
            .map(|s| s.value)
            .sum()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_services_write_logs_and_serve_parseable_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let opts = SimOptions {
            timeline: Timeline {
                calm: Duration::from_secs(1),
                spike: Duration::from_secs(1),
                burst: Duration::from_secs(1),
                recovery: Duration::from_secs(1),
                cycle: Duration::from_secs(6),
                seed: 1,
            },
            ..SimOptions::default()
        };
        let sim = SimServices::start(dir.path(), opts).await.unwrap();

        for service in Service::ALL {
            let path = sim.log_path(service);
            assert_eq!(
                path,
                dir.path()
                    .join(service.name())
                    .join(format!("{service}.log"))
            );
            let history = std::fs::metadata(&path).unwrap().len();
            assert!(history > 0, "{service}: no back-filled history");
        }

        // Live lines: wait for growth, however slow the machine is.
        let path = sim.log_path(Service::Payments);
        let before = std::fs::metadata(&path).unwrap().len();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::fs::metadata(&path).unwrap().len() == before {
            assert!(Instant::now() < deadline, "no live lines written");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let addr = sim.metrics_addr(Service::Payments);
        assert_eq!(
            sim.metrics_url(Service::Payments),
            format!("http://{addr}/metrics")
        );
        let (head, first) = get(addr, "/metrics").await;
        assert!(
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
            "{head}"
        );
        assert!(
            head.to_ascii_lowercase().contains("version=0.0.4"),
            "{head}"
        );
        // Counters count on between scrapes, however slow the machine is.
        let deadline = Instant::now() + Duration::from_secs(20);
        let second = loop {
            let (_, second) = get(addr, "/metrics").await;
            assert!(requests_total(&second) >= requests_total(&first));
            if requests_total(&second) > requests_total(&first) {
                break second;
            }
            assert!(Instant::now() < deadline, "the counters stand still");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(requests_total(&second) > 0.0);

        sim.stop().await;
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "still listening"
        );
    }

    #[tokio::test]
    async fn an_impossible_timeline_is_refused_before_anything_starts() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = SimOptions::default();
        opts.timeline.cycle = Duration::from_secs(10);
        let err = SimServices::start(dir.path(), opts).await.err().unwrap();
        assert!(matches!(err, SimError::Options(_)), "{err}");
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
    }
}
