//! The Docker engine, driven through bollard: connecting with a message that says how to fix a
//! missing engine, loading image archives, finding pinned images on either image store (`store`),
//! and running build containers with files going in and out as tar streams. Every container is
//! labelled with this process's session, so an interrupted build can remove what it started.

mod export;
mod store;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bollard::errors::Error as BollardError;
use bollard::models::{ContainerCreateBody, HostConfig, ImageInspect};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, DownloadFromContainerOptionsBuilder, ImportImageOptionsBuilder,
    ListContainersOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use bollard::Docker;
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use export::{pairs_in_export, DigestPair};
pub use store::{is_bare_digest, ImageDigests, ImageStore};

/// Label on every container mpr creates: `<pid>-<start time in ns>`, unique to this process.
pub const SESSION_LABEL: &str = "dev.mpr.session";
/// Label on every container mpr creates: the pid of the mpr process, for people and tests.
pub const PID_LABEL: &str = "dev.mpr.pid";

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot reach the Docker engine ({detail}); start it (`systemctl start docker`, or `dockerd &`) or point DOCKER_HOST at a running engine")]
    Unreachable { detail: String },
    #[error("image {reference} is not in the local Docker engine; {fix}")]
    MissingImage { reference: String, fix: String },
    #[error("docker: {context}: {source}")]
    Api {
        context: String,
        #[source]
        source: BollardError,
    },
    #[error("{context}: {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reading the digests of image {image} from the engine's export: {detail}")]
    Export { image: String, detail: String },
}

fn api(context: impl Into<String>) -> impl FnOnce(BollardError) -> DockerError {
    let context = context.into();
    move |source| DockerError::Api { context, source }
}

/// A connected engine.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    state: store::SharedStoreState,
}

impl Engine {
    /// Connects through DOCKER_HOST or the local socket and agrees on an API version (engines as old
    /// as 20.10, API 1.41, are common on build hosts).
    pub async fn connect() -> Result<Engine, DockerError> {
        let unreachable = |e: BollardError| DockerError::Unreachable {
            detail: e.to_string(),
        };
        let docker = Docker::connect_with_local_defaults().map_err(unreachable)?;
        Self::negotiate(docker).await
    }

    /// Connects to the engine listening on the Unix socket `socket` (a second engine, e.g. one
    /// with the other image store).
    pub async fn connect_at(socket: &Path) -> Result<Engine, DockerError> {
        let docker =
            Docker::connect_with_unix(&socket.to_string_lossy(), 120, bollard::API_DEFAULT_VERSION)
                .map_err(|e| DockerError::Unreachable {
                    detail: format!("{}: {e}", socket.display()),
                })?;
        Self::negotiate(docker).await
    }

    async fn negotiate(docker: Docker) -> Result<Engine, DockerError> {
        let unreachable = |e: BollardError| DockerError::Unreachable {
            detail: e.to_string(),
        };
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        docker.ping().await.map_err(unreachable)?;
        Ok(Engine {
            docker,
            state: Default::default(),
        })
    }

    /// The image's inspection, or `None` when the engine does not have it.
    pub async fn find_image(&self, reference: &str) -> Result<Option<ImageInspect>, DockerError> {
        match self.docker.inspect_image(reference).await {
            Ok(image) => Ok(Some(image)),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(api(format!("inspecting image {reference}"))(e)),
        }
    }

    /// The image `reference` names, found as [`Engine::resolve_image`] finds pins; a missing image
    /// is an error carrying `fix` (and, for a bare digest, what the engine's image store calls IDs).
    pub async fn require_image(
        &self,
        reference: &str,
        fix: &str,
    ) -> Result<ImageInspect, DockerError> {
        if let Some(image) = self.resolve_image(reference).await? {
            return Ok(image);
        }
        let fix = if is_bare_digest(reference) {
            format!("{fix}; {}", self.image_store().await?.pin_fix())
        } else {
            fix.to_owned()
        };
        Err(DockerError::MissingImage {
            reference: reference.to_owned(),
            fix,
        })
    }

    /// `docker load` of an image archive (docker-archive or OCI layout with `manifest.json`),
    /// streamed from disk. Returns the engine's messages (`Loaded image ID: sha256:…`).
    pub async fn load_archive(&self, archive: &Path) -> Result<Vec<String>, DockerError> {
        let body = file_stream(archive).await?;
        let options = ImportImageOptionsBuilder::default().quiet(true).build();
        let mut stream = self.docker.import_image_stream(options, body, None);
        let mut messages = Vec::new();
        while let Some(item) = stream.next().await {
            let info = item.map_err(api(format!("loading {}", archive.display())))?;
            if let Some(stream) = info.stream {
                messages.push(stream.trim().to_owned());
            }
        }
        Ok(messages)
    }

    pub async fn remove_image(&self, reference: &str) -> Result<(), DockerError> {
        self.docker
            .remove_image(
                reference,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await
            .map(drop)
            .map_err(api(format!("removing image {reference}")))
    }

    /// Creates (not starts) a container for `spec`. An image pinned by the digest the engine's
    /// store does not use is created from under the engine's own name for it.
    pub async fn create(&self, spec: &ContainerSpec) -> Result<Container, DockerError> {
        match self.create_from(spec, &spec.image).await {
            Err(DockerError::Api {
                source:
                    BollardError::DockerResponseServerError {
                        status_code: 404, ..
                    },
                ..
            }) if is_bare_digest(&spec.image) => match self.engine_reference(&spec.image).await? {
                Some(engine_id) => self.create_from(spec, &engine_id).await,
                None => Err(DockerError::MissingImage {
                    reference: spec.image.clone(),
                    fix: self.image_store().await?.pin_fix().to_owned(),
                }),
            },
            other => other,
        }
    }

    async fn create_from(
        &self,
        spec: &ContainerSpec,
        image: &str,
    ) -> Result<Container, DockerError> {
        let (session, pid) = session();
        let body = ContainerCreateBody {
            image: Some(image.to_owned()),
            labels: Some(HashMap::from([
                (SESSION_LABEL.to_owned(), session.to_owned()),
                (PID_LABEL.to_owned(), pid.to_string()),
            ])),
            cmd: Some(spec.command.clone()),
            env: Some(spec.env.clone()),
            working_dir: spec.working_dir.clone(),
            user: spec.user.clone(),
            hostname: Some(spec.hostname.clone()),
            network_disabled: Some(!spec.network),
            volumes: (!spec.volumes.is_empty()).then(|| spec.volumes.clone()),
            host_config: Some(HostConfig {
                network_mode: Some(if spec.network { "bridge" } else { "none" }.to_owned()),
                cap_drop: Some(vec!["ALL".to_owned()]),
                security_opt: Some(vec!["no-new-privileges".to_owned()]),
                nano_cpus: spec.cpus.map(|c| i64::from(c) * 1_000_000_000),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().build();
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(api(format!("creating a container from {image}")))?;
        Ok(Container {
            docker: self.docker.clone(),
            id: created.id,
        })
    }
}

/// This process's session label value and pid.
fn session() -> (&'static str, u32) {
    static SESSION: OnceLock<String> = OnceLock::new();
    let pid = std::process::id();
    let session = SESSION.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("{pid}-{nanos}")
    });
    (session, pid)
}

impl Engine {
    /// Force-removes every container this process created that is still there (running or not),
    /// e.g. after the future driving a build was dropped on Ctrl-C. Returns the removed IDs.
    pub async fn remove_session_containers(&self) -> Result<Vec<String>, DockerError> {
        let (session, _) = session();
        let label = format!("{SESSION_LABEL}={session}");
        let filters = HashMap::from([("label", vec![label.as_str()])]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let containers = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(api("listing this build's containers"))?;
        let mut removed = Vec::new();
        for id in containers.into_iter().filter_map(|c| c.id) {
            let options = RemoveContainerOptionsBuilder::default()
                .force(true)
                .v(true)
                .build();
            match self.docker.remove_container(&id, Some(options)).await {
                Ok(()) => removed.push(id),
                // Gone already (its own removal raced with ours).
                Err(BollardError::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => return Err(api(format!("removing container {id}"))(e)),
            }
        }
        Ok(removed)
    }
}

/// What to run. The container gets no capabilities and no privilege escalation, and no network
/// unless it is the fetch stage's.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    pub image: String,
    pub command: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub hostname: String,
    /// CPU limit (whole CPUs); `None` = the engine's default (all).
    pub cpus: Option<u32>,
    /// The engine's default bridge network: only for fetching (vendoring crates).
    pub network: bool,
    /// Anonymous volumes mounted at these paths, removed with the container. What is written
    /// there bypasses the engine's storage driver: with the compile's source and target
    /// directories on fuse-overlayfs, the prover's compile took about 10 % longer (BENCHMARKS.md).
    pub volumes: Vec<String>,
}

/// A created container; [`Container::remove`] it when done (also after errors).
pub struct Container {
    docker: Docker,
    id: String,
}

impl Container {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Unpacks the tar archive at `archive` into `dest` inside the container.
    pub async fn upload_tar(&self, archive: &Path, dest: &str) -> Result<(), DockerError> {
        let body = bollard::body_try_stream(file_stream(archive).await?);
        let options = UploadToContainerOptionsBuilder::default()
            .path(dest)
            .build();
        self.docker
            .upload_to_container(&self.id, Some(options), body)
            .await
            .map_err(api(format!("uploading {} to {dest}", archive.display())))
    }

    /// Starts the container, hands every log line (stdout and stderr) to `on_line`, and returns the
    /// exit code once it stops.
    pub async fn run(&self, mut on_line: impl FnMut(&str)) -> Result<i64, DockerError> {
        self.docker
            .start_container(&self.id, None)
            .await
            .map_err(api("starting the build container"))?;
        let options = LogsOptionsBuilder::default()
            .follow(true)
            .stdout(true)
            .stderr(true)
            .build();
        let mut logs = self.docker.logs(&self.id, Some(options));
        let mut pending = Vec::new();
        while let Some(item) = logs.next().await {
            let output = item.map_err(api("reading the build container's output"))?;
            pending.extend_from_slice(&output.into_bytes());
            while let Some(newline) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=newline).collect();
                on_line(String::from_utf8_lossy(&line).trim_end());
            }
        }
        if !pending.is_empty() {
            on_line(String::from_utf8_lossy(&pending).trim_end());
        }
        let mut wait = self.docker.wait_container(&self.id, None);
        let mut code = 0;
        while let Some(item) = wait.next().await {
            match item {
                Ok(response) => code = response.status_code,
                Err(BollardError::DockerContainerWaitError { code: c, .. }) => code = c,
                Err(e) => return Err(api("waiting for the build container")(e)),
            }
        }
        Ok(code)
    }

    /// Streams `path` out of the container as a tar archive (Docker names the archive's root after
    /// the last component of `path`) into the file `dest`.
    pub async fn download_tar(&self, path: &str, dest: &Path) -> Result<(), DockerError> {
        let io_err = |source| DockerError::Io {
            context: "writing",
            path: dest.to_owned(),
            source,
        };
        let mut file = tokio::fs::File::create(dest).await.map_err(io_err)?;
        let options = DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        let mut stream = self.docker.download_from_container(&self.id, Some(options));
        while let Some(chunk) = stream
            .try_next()
            .await
            .map_err(api(format!("downloading {path}")))?
        {
            file.write_all(&chunk).await.map_err(io_err)?;
        }
        file.flush().await.map_err(io_err)
    }

    pub async fn remove(self) -> Result<(), DockerError> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        self.docker
            .remove_container(&self.id, Some(options))
            .await
            .map_err(api(format!("removing container {}", self.id)))
    }
}

/// A file as a stream of 1 MiB chunks, so archives of any size go to the engine without being held
/// in memory.
async fn file_stream(
    path: &Path,
) -> Result<impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static, DockerError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|source| DockerError::Io {
            context: "opening",
            path: path.to_owned(),
            source,
        })?;
    Ok(futures_util::stream::try_unfold(
        file,
        |mut file| async move {
            let mut buf = vec![0u8; 1 << 20];
            let n = file.read(&mut buf).await?;
            if n == 0 {
                return Ok(None);
            }
            buf.truncate(n);
            Ok(Some((Bytes::from(buf), file)))
        },
    ))
}
