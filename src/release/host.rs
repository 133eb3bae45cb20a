//! One host's deploy and rollback, step by step. Each returns a [`Report`]
//! saying which release the host is on at the end, whatever happened: the
//! only states a host can be left in are "old release" and "new release".

use std::time::{Duration, Instant};

use super::activate::{self, Restart};
use super::transfer::{self, Upload};
use super::{
    Artifact, Health, Layout, ReleaseError, State, Step, StepKind, StepLog, health, layout, prune,
};
use crate::remote::Transport;
use crate::ssh::ExecOptions;

/// How to release on one host (after per-host templating).
#[derive(Debug, Clone)]
pub struct Plan {
    pub layout: Layout,
    /// The binary's file name inside a release directory.
    pub binary: String,
    /// systemd unit to restart when the host runs systemd.
    pub service: Option<String>,
    /// Restart command (wins over systemd).
    pub restart: Option<String>,
    pub health: Health,
    /// Releases to keep (current and previous are always kept).
    pub keep: usize,
}

/// How a host ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// On the new release, healthy.
    Deployed,
    /// Already on the release: nothing changed.
    Unchanged,
    /// Back on the previous release (after a failed gate, or when asked).
    RolledBack,
    Failed,
}

/// One host's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub status: Status,
    /// The release `current` pointed at before.
    pub before: Option<String>,
    /// The release `current` points at now (as far as herd knows).
    pub now: Option<String>,
    pub message: String,
    /// Whether the binary was sent (deploys only).
    pub uploaded: Option<bool>,
}

/// Releases `artifact` on the host: upload if needed, switch, restart,
/// health gate, and back to the previous release if the gate fails.
pub async fn deploy(
    transport: &Transport,
    exec: &ExecOptions,
    plan: &Plan,
    artifact: &Artifact,
    log: StepLog<'_>,
) -> Report {
    let mut host = HostRun::new(transport, exec, plan, log);
    match host.deploy(artifact).await {
        Ok((status, message)) => host.report(status, message),
        Err(err) => host.fail(&artifact.id, err),
    }
}

/// Returns the host to its previous release (`current` and `previous`
/// swap), restarts it and runs the health gate.
pub async fn rollback(
    transport: &Transport,
    exec: &ExecOptions,
    plan: &Plan,
    log: StepLog<'_>,
) -> Report {
    let mut host = HostRun::new(transport, exec, plan, log);
    match host.rollback().await {
        Ok((status, message)) => host.report(status, message),
        Err(err) => host.fail("", err),
    }
}

struct HostRun<'a> {
    transport: &'a Transport,
    exec: &'a ExecOptions,
    plan: &'a Plan,
    log: StepLog<'a>,
    before: Option<String>,
    now: Option<String>,
    uploaded: Option<bool>,
}

type Ended = Result<(Status, String), ReleaseError>;

impl<'a> HostRun<'a> {
    fn new(
        transport: &'a Transport,
        exec: &'a ExecOptions,
        plan: &'a Plan,
        log: StepLog<'a>,
    ) -> HostRun<'a> {
        HostRun {
            transport,
            exec,
            plan,
            log,
            before: None,
            now: None,
            uploaded: None,
        }
    }

    async fn deploy(&mut self, artifact: &Artifact) -> Ended {
        let (transport, exec, plan) = (self.transport, self.exec, self.plan);
        let state = layout::read_state(
            transport,
            exec,
            &plan.layout,
            Some((&artifact.id, &plan.binary)),
        )
        .await?;
        self.before = state.current.clone();
        self.now = state.current.clone();
        // Known before anything is sent: a host we could not restart is left alone.
        let restart = self.restart_for(&state)?;

        let started = self.start();
        let upload = transfer::ensure(transport, exec, &plan.layout, artifact, &state).await?;
        self.uploaded = Some(upload != Upload::Skipped);
        let kind = match upload {
            Upload::Skipped => StepKind::UploadSkipped,
            Upload::Sent { .. } => StepKind::Uploaded,
        };
        self.step(kind, &artifact.id, Some(upload.describe()), started);

        if state.current.as_deref() == Some(artifact.id.as_str()) {
            self.step(StepKind::Unchanged, &artifact.id, None, self.start());
            return Ok((Status::Unchanged, format!("already on {}", artifact.id)));
        }

        let started = self.start();
        activate::switch(
            transport,
            exec,
            &plan.layout,
            &artifact.id,
            state.current.as_deref(),
        )
        .await?;
        self.now = Some(artifact.id.clone());
        self.step(StepKind::Activated, &artifact.id, None, started);

        let started = self.start();
        if let Err(err) =
            activate::restart(transport, exec, &plan.layout, &restart, &artifact.id).await
        {
            self.step(
                StepKind::Failed,
                &artifact.id,
                Some(err.to_string()),
                started,
            );
            return self.undo(&state, &restart, err.to_string()).await;
        }
        self.step(StepKind::Restarted, &artifact.id, None, started);

        match self.gate(&artifact.id).await? {
            Ok(()) => {}
            Err(why) => return self.undo(&state, &restart, why).await,
        }

        let after = State {
            current: Some(artifact.id.clone()),
            previous: state.current.clone(),
            releases: std::iter::once(artifact.id.clone())
                .chain(
                    state
                        .releases
                        .iter()
                        .filter(|r| **r != artifact.id)
                        .cloned(),
                )
                .collect(),
            ..State::default()
        };
        let victims = prune::victims(&after, plan.keep);
        if !victims.is_empty() {
            let started = self.start();
            prune::remove(transport, exec, &plan.layout, &victims).await?;
            self.step(
                StepKind::Pruned,
                &artifact.id,
                Some(victims.join(" ")),
                started,
            );
        }
        let from = match &state.current {
            Some(old) => format!(" (was {old})"),
            None => String::new(),
        };
        Ok((
            Status::Deployed,
            format!("on {}{from}, {}", artifact.id, self.gate_word()),
        ))
    }

    async fn rollback(&mut self) -> Ended {
        let (transport, exec, plan) = (self.transport, self.exec, self.plan);
        let state = layout::read_state(transport, exec, &plan.layout, None).await?;
        self.before = state.current.clone();
        self.now = state.current.clone();
        let remote = |reason: String| ReleaseError::Remote {
            host: transport.name().to_string(),
            step: "rollback",
            reason,
        };
        let Some(current) = state.current.clone() else {
            return Err(remote(format!(
                "no release is current under {} (nothing deployed there?)",
                plan.layout.root
            )));
        };
        let Some(previous) = state.previous.clone() else {
            return Err(remote(format!(
                "no previous release to return to ({current} is the only one deployed)"
            )));
        };
        let restart = self.restart_for(&state)?;
        let from = format!("from {current}");
        self.roll_back_to(&previous, Some(&current), from, &restart)
            .await?;
        if let Err(why) = self.gate(&previous).await? {
            return Err(remote(format!(
                "on {previous} now, but its health check failed: {why}"
            )));
        }
        Ok((
            Status::RolledBack,
            format!("on {previous} (was {current}), {}", self.gate_word()),
        ))
    }

    /// Makes `release` current (and `previous` the one before it), then
    /// restarts it; `detail` says what it was rolled back from.
    async fn roll_back_to(
        &mut self,
        release: &str,
        previous: Option<&str>,
        detail: String,
        restart: &Restart,
    ) -> Result<(), ReleaseError> {
        let (transport, exec, plan) = (self.transport, self.exec, self.plan);
        let started = self.start();
        activate::switch(transport, exec, &plan.layout, release, previous).await?;
        self.now = Some(release.to_string());
        self.step(StepKind::RolledBack, release, Some(detail), started);
        let started = self.start();
        activate::restart(transport, exec, &plan.layout, restart, release).await?;
        self.step(StepKind::Restarted, release, None, started);
        Ok(())
    }

    /// Back to the release that was current before this deploy, restarted.
    async fn undo(&mut self, state: &State, restart: &Restart, why: String) -> Ended {
        let (transport, plan) = (self.transport, self.plan);
        let new = self.now.clone().unwrap_or_default();
        let Some(old) = state.current.clone() else {
            return Err(ReleaseError::Remote {
                host: transport.name().to_string(),
                step: "release",
                reason: format!(
                    "{why}; no previous release to roll back to, so {new} stays current"
                ),
            });
        };
        let from = format!("from {new}: {why}");
        self.roll_back_to(&old, state.previous.as_deref(), from, restart)
            .await?;
        // The old release must answer again; what the new one was expected
        // to say does not apply to it.
        let old_gate = Health {
            probe: match (&plan.health.probe, &plan.health.expect) {
                (None, Some(_)) => Some(health::Probe::Version),
                (probe, _) => probe.clone(),
            },
            expect: None,
            ..plan.health.clone()
        };
        let back = match self.gate_with(&old, &old_gate).await? {
            Ok(()) if old_gate.is_set() => ", which is healthy".to_string(),
            Ok(()) => String::new(),
            Err(again) => format!(", which fails its health check too: {again}"),
        };
        Ok((
            Status::RolledBack,
            format!("{new} failed its health gate ({why}); rolled back to {old}{back}"),
        ))
    }

    /// Runs the health gate, logging the result. `Ok(Err(why))`: unhealthy.
    async fn gate(&mut self, id: &str) -> Result<Result<(), String>, ReleaseError> {
        self.gate_with(id, &self.plan.health).await
    }

    /// [`gate`](Self::gate) with another gate.
    async fn gate_with(
        &mut self,
        id: &str,
        health: &Health,
    ) -> Result<Result<(), String>, ReleaseError> {
        let plan = self.plan;
        if !health.is_set() {
            return Ok(Ok(()));
        }
        let started = self.start();
        let result = health::check(
            self.transport,
            self.exec,
            &plan.layout,
            health,
            &plan.binary,
        )
        .await?;
        let (kind, detail) = match &result {
            Ok(out) => (StepKind::Healthy, out.clone()),
            Err(why) => (StepKind::Unhealthy, why.clone()),
        };
        self.step(kind, id, (!detail.is_empty()).then_some(detail), started);
        Ok(result.map(|_| ()))
    }

    /// How the gate ended, for a host that passed it.
    fn gate_word(&self) -> &'static str {
        match self.plan.health.is_set() {
            true => "healthy",
            false => "no health gate",
        }
    }

    fn restart_for(&self, state: &State) -> Result<Restart, ReleaseError> {
        Restart::choose(
            self.plan.restart.as_deref(),
            self.plan.service.as_deref(),
            state.has_systemd,
        )
        .ok_or_else(|| ReleaseError::Remote {
            host: self.transport.name().to_string(),
            step: "restart",
            reason: "the host does not run systemd: give a restart command (--restart CMD)".into(),
        })
    }

    fn start(&self) -> (i64, Instant) {
        (jiff::Timestamp::now().as_millisecond(), Instant::now())
    }

    fn step(&self, kind: StepKind, release: &str, detail: Option<String>, started: (i64, Instant)) {
        (self.log)(Step {
            kind,
            release: release.to_string(),
            detail,
            started_at: started.0,
            duration: started.1.elapsed(),
        });
    }

    fn report(&self, status: Status, message: String) -> Report {
        Report {
            status,
            before: self.before.clone(),
            now: self.now.clone(),
            message,
            uploaded: self.uploaded,
        }
    }

    fn fail(&self, release: &str, err: ReleaseError) -> Report {
        let on = match &self.now {
            Some(id) => format!("host is on {id}"),
            None => "no release is current".into(),
        };
        let message = format!("{err} ({on})");
        self.step(
            StepKind::Failed,
            release,
            Some(message.clone()),
            self.start(),
        );
        self.report(Status::Failed, message)
    }
}

/// How long a step took, for display.
pub fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::release::Probe;

    fn plan(root: &std::path::Path, keep: usize) -> Plan {
        Plan {
            layout: Layout::new(root.display().to_string()),
            binary: "app".into(),
            service: Some("app".into()),
            restart: Some("echo \"$HERD_RELEASE\" > started".into()),
            health: Health {
                probe: Some(Probe::Command("grep -q good current/app".into())),
                retries: 2,
                delay: Duration::from_millis(10),
                ..Health::default()
            },
            keep,
        }
    }

    fn build(text: &str, version: &str) -> Artifact {
        Artifact::from_bytes("app".into(), text.as_bytes().to_vec(), Some(version)).unwrap()
    }

    async fn deploy_local(plan: &Plan, artifact: &Artifact) -> (Report, Vec<StepKind>) {
        let steps = Mutex::new(Vec::new());
        let log = |s: Step| steps.lock().unwrap().push(s.kind);
        let report = deploy(
            &Transport::Local,
            &ExecOptions::default(),
            plan,
            artifact,
            &log,
        )
        .await;
        (report, steps.into_inner().unwrap())
    }

    #[tokio::test]
    async fn deploy_switches_rolls_back_when_unhealthy_and_prunes() {
        let dir = tempfile::tempdir().unwrap();
        let plan = plan(dir.path(), 2);
        let started = || std::fs::read_to_string(dir.path().join("started")).unwrap();

        let (r, steps) = deploy_local(&plan, &build("good 1", "v1")).await;
        assert_eq!(
            (r.status, r.now.as_deref()),
            (Status::Deployed, Some("v1")),
            "{r:?}"
        );
        use StepKind::*;
        assert_eq!(steps, [Uploaded, Activated, Restarted, Healthy]);
        assert_eq!(started(), "v1\n");

        let (r, _) = deploy_local(&plan, &build("good 2", "v2")).await;
        assert_eq!(r.status, Status::Deployed, "{r:?}");
        let (r, steps) = deploy_local(&plan, &build("good 2", "v2")).await;
        assert_eq!((r.status, r.uploaded), (Status::Unchanged, Some(false)));
        assert_eq!(steps, [UploadSkipped, Unchanged]);

        // A bad build: unhealthy, back to v2, restarted and checked there.
        let (r, steps) = deploy_local(&plan, &build("bad 3", "v3")).await;
        assert_eq!(
            (r.status, r.now.as_deref()),
            (Status::RolledBack, Some("v2")),
            "{r:?}"
        );
        assert_eq!(
            steps,
            [
                Uploaded, Activated, Restarted, Unhealthy, RolledBack, Restarted, Healthy
            ]
        );
        assert_eq!(started(), "v2\n");
        let link = |name| std::fs::read_link(dir.path().join(name)).unwrap();
        assert_eq!(link("current"), std::path::Path::new("releases/v2"));
        assert_eq!(link("previous"), std::path::Path::new("releases/v1"));

        // keep 2: v4 and v2 (previous) stay; v1 and v3 go.
        let (r, steps) = deploy_local(&plan, &build("good 4", "v4")).await;
        assert_eq!(r.status, Status::Deployed, "{r:?}");
        assert_eq!(steps.last(), Some(&Pruned));
        let mut left: Vec<_> = std::fs::read_dir(dir.path().join("releases"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["v2", "v4"]);

        // Rollback swaps current and previous.
        let steps = Mutex::new(Vec::new());
        let log = |s: Step| steps.lock().unwrap().push(s.kind);
        let r = rollback(&Transport::Local, &ExecOptions::default(), &plan, &log).await;
        assert_eq!(
            (r.status, r.now.as_deref()),
            (Status::RolledBack, Some("v2")),
            "{r:?}"
        );
        assert_eq!(link("previous"), std::path::Path::new("releases/v4"));
        assert_eq!(started(), "v2\n");
    }

    #[tokio::test]
    async fn a_failed_upload_leaves_the_host_on_its_release() {
        let dir = tempfile::tempdir().unwrap();
        let plan = plan(dir.path(), 5);
        deploy_local(&plan, &build("good 1", "v1")).await;
        // The release directory cannot be created: the upload fails whole.
        std::fs::write(dir.path().join("releases/v2"), "in the way").unwrap();
        let (r, steps) = deploy_local(&plan, &build("good 2", "v2")).await;
        assert_eq!(
            (r.status, r.now.as_deref()),
            (Status::Failed, Some("v1")),
            "{r:?}"
        );
        assert!(r.message.contains("upload failed"), "{}", r.message);
        assert!(r.message.contains("host is on v1"), "{}", r.message);
        assert_eq!(steps, [StepKind::Failed]);
    }

    #[tokio::test]
    async fn a_compressible_build_goes_gzipped_and_arrives_whole() {
        let dir = tempfile::tempdir().unwrap();
        let plan = plan(dir.path(), 5);
        let text = format!("good\n{}", "the same line\n".repeat(5000));
        let steps = Mutex::new(Vec::new());
        let log = |s: Step| steps.lock().unwrap().push(s);
        let artifact = build(&text, "v1");
        let r = deploy(
            &Transport::Local,
            &ExecOptions::default(),
            &plan,
            &artifact,
            &log,
        )
        .await;
        assert_eq!(r.status, Status::Deployed, "{r:?}");
        let sent = steps.into_inner().unwrap().remove(0);
        let detail = sent.detail.unwrap();
        assert!(detail.ends_with("bytes sent (gzip)"), "{detail}");
        let bytes: usize = detail.split(' ').next().unwrap().parse().unwrap();
        assert!(bytes < text.len() / 10, "{detail}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("releases/v1/app")).unwrap(),
            text
        );
    }

    #[tokio::test]
    async fn a_release_id_never_gets_a_different_build() {
        let dir = tempfile::tempdir().unwrap();
        let plan = plan(dir.path(), 5);
        deploy_local(&plan, &build("good 1", "v1")).await;
        let (r, _) = deploy_local(&plan, &build("good 1 rebuilt", "v1")).await;
        assert_eq!(
            (r.status, r.now.as_deref()),
            (Status::Failed, Some("v1")),
            "{r:?}"
        );
        assert!(r.message.contains("new --release-version"), "{}", r.message);
        let installed = std::fs::read(dir.path().join("releases/v1/app")).unwrap();
        assert_eq!(installed, b"good 1");
    }
}
