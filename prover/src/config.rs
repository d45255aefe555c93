//! Command-line flags and environment variables: the official proof server's, with the same names and
//! defaults, plus the TEE ones (`--listen`, `--tls`, `--require-encryption`, `--staple-*`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::attestation::confidential_space::{DEFAULT_AUDIENCE, DEFAULT_LAUNCHER_SOCKET};
use crate::attestation::tpm::azure_tdx::DEFAULT_TD_QUOTE_URL;
use crate::attestation::{AttestationChoice, AzureImds, DevicePaths, Launcher, TokenType};
use crate::listen::ListenAddr;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "proof-server",
    version,
    about = "Midnight-compatible proof server for TEEs (AWS Nitro Enclaves, SEV-SNP and TDX confidential VMs)"
)]
pub struct Config {
    /// Port for the default listener (tcp:0.0.0.0:<port>) when no --listen is given.
    #[arg(
        short,
        long,
        env = "MIDNIGHT_PROOF_SERVER_PORT",
        default_value_t = 6300
    )]
    pub port: u16,
    /// Debug logging. Request bodies are never logged (they hold private witnesses).
    #[arg(short, long, env = "MIDNIGHT_PROOF_SERVER_VERBOSE")]
    pub verbose: bool,
    /// Maximum jobs waiting for a worker; 0 means unbounded. When full, /ready answers 503 and new
    /// proving requests 429.
    #[arg(long, env = "MIDNIGHT_PROOF_SERVER_JOB_CAPACITY", default_value_t = 0)]
    pub job_capacity: usize,
    /// Proving workers (each proof runs on its own blocking thread).
    #[arg(long, env = "MIDNIGHT_PROOF_SERVER_NUM_WORKERS", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub num_workers: u16,
    /// Seconds a job may wait and run before its request fails.
    #[arg(long, env = "MIDNIGHT_PROOF_SERVER_JOB_TIMEOUT", default_value_t = 600.0,
          value_parser = parse_timeout)]
    pub job_timeout: f64,
    /// Do not download public parameters at start-up and do not serve /fetch-params.
    #[arg(long, env = "MIDNIGHT_PROOF_SERVER_NO_FETCH_PARAMS")]
    pub no_fetch_params: bool,
    /// Directory of public parameters and built-in keys (default: $MIDNIGHT_PP, else the Midnight
    /// crates' cache directory). Every file is checked against its built-in SHA-256 digest.
    #[arg(long, env = "MIDNIGHT_PP")]
    pub params_dir: Option<std::path::PathBuf>,
    /// Where to listen: tcp:ADDR:PORT or vsock:PORT (any CID) or vsock:CID:PORT. Repeat for several.
    #[arg(
        long = "listen",
        env = "MIDNIGHT_PROOF_SERVER_LISTEN",
        value_delimiter = ','
    )]
    pub listen: Vec<ListenAddr>,
    /// Terminate TLS inside the server with a key generated at start-up (attestation binds that key).
    #[arg(long, env = "MIDNIGHT_PROOF_SERVER_TLS")]
    pub tls: bool,
    /// Host names for the self-signed TLS certificate.
    #[arg(long = "tls-hostname", default_value = "localhost")]
    pub tls_hostnames: Vec<String>,
    /// Refuse plaintext requests to the routes that carry private data (/k, /check, /prove,
    /// /prove-tx) with 403: they are served only encrypted, through the OHTTP gateway POST /ohttp.
    #[arg(long, env = "MIDNIGHT_PROOF_SERVER_REQUIRE_ENCRYPTION")]
    pub require_encryption: bool,
    /// Deploy-time staple (not part of the measured image): the release's signed statement, returned
    /// base64 in every /attestation answer. Needs --staple-signature and --staple-proof too.
    #[arg(long, value_name = "FILE")]
    pub staple_statement: Option<PathBuf>,
    /// An ASCII-armored OpenPGP signature over the statement. Repeat for several.
    #[arg(long = "staple-signature", value_name = "FILE")]
    pub staple_signatures: Vec<PathBuf>,
    /// The statement's transparency-log proof (c2sp.org/tlog-proof@v1 bundle, text).
    #[arg(long, value_name = "FILE")]
    pub staple_proof: Option<PathBuf>,
    /// An AMD CRL (DER, from https://kdsintf.amd.com/vcek/v1/<product>/crl) returned with SEV-SNP
    /// evidence, so wallets check revocation without reaching AMD. Re-read on every attestation:
    /// refresh it by replacing the file. Repeat for several.
    #[arg(long = "snp-crl", value_name = "FILE")]
    pub snp_crls: Vec<PathBuf>,
    /// Where configfs-tsm's report directory is mounted (SEV-SNP and TDX evidence); a container
    /// may see the host's configfs elsewhere.
    #[arg(
        long,
        value_name = "DIR",
        env = "MPR_TSM_REPORTS",
        default_value = "/sys/kernel/config/tsm/report"
    )]
    pub tsm_reports: PathBuf,
    /// Which attestation interface to use: `auto` takes the Confidential Space launcher's socket,
    /// else the Nitro Secure Module, else a TPM, else configfs-tsm; `confidential-space`, `nitro`,
    /// `tpm` or `tsm` insist on one and refuse to start without it. Force `tsm` on a self-hosted
    /// SEV-SNP/TDX guest whose vTPM the host emulates.
    #[arg(long, value_enum, env = "MPR_ATTESTATION", default_value = "auto")]
    pub attestation: AttestationChoice,
    /// The TPM: a character device (the kernel's resource manager, /dev/tpmrm0) or a Unix socket
    /// speaking raw TPM commands (swtpm's `--server type=unixio`).
    #[arg(
        long,
        value_name = "PATH",
        env = "MPR_TPM_DEVICE",
        default_value = "/dev/tpmrm0"
    )]
    pub tpm_device: PathBuf,
    /// The firmware's TCG event log returned with TPM quotes (at most 1 MiB; omitted when absent).
    #[arg(
        long,
        value_name = "FILE",
        env = "MPR_TPM_EVENT_LOG",
        default_value = "/sys/kernel/security/tpm0/binary_bios_measurements"
    )]
    pub tpm_event_log: PathBuf,
    /// GCP Confidential Space: the launcher's socket, asked for a token per attestation.
    #[arg(
        long,
        value_name = "PATH",
        env = "MPR_LAUNCHER_SOCKET",
        default_value = DEFAULT_LAUNCHER_SOCKET
    )]
    pub launcher_socket: PathBuf,
    /// Confidential Space: the token's `aud` claim, which wallets check.
    #[arg(long, value_name = "AUDIENCE", env = "MPR_TOKEN_AUDIENCE",
          default_value = DEFAULT_AUDIENCE, value_parser = parse_audience)]
    pub token_audience: String,
    /// Confidential Space: an OIDC token (key in the issuer's JWKS) or a PKI one (x5c chain to
    /// Google's Confidential Space root).
    #[arg(long, value_enum, env = "MPR_TOKEN_TYPE", default_value = "oidc")]
    pub token_type: TokenType,
    /// Azure TDX confidential VMs: the IMDS endpoint that turns the HCL report's TDREPORT into a TD
    /// quote (plain http://).
    #[arg(long, value_name = "URL", env = "MPR_AZURE_IMDS_URL",
          default_value = DEFAULT_TD_QUOTE_URL, value_parser = parse_imds_url)]
    pub azure_imds_url: AzureImds,
    /// Seconds a request to the Confidential Space launcher or to Azure IMDS may take.
    #[arg(long, value_name = "SECONDS", env = "MPR_ATTESTATION_TIMEOUT",
          default_value_t = 20.0, value_parser = parse_attestation_timeout)]
    pub attestation_timeout: f64,
}

fn parse_audience(text: &str) -> Result<String, String> {
    // The launcher answers an empty audience with "use GET request for the default identity
    // token", whose nonce is not ours.
    if text.trim().is_empty() {
        Err("the token audience must not be empty".into())
    } else {
        Ok(text.to_owned())
    }
}

fn parse_imds_url(text: &str) -> Result<AzureImds, String> {
    // The timeout is --attestation-timeout's, set in `devices`.
    AzureImds::new(text, crate::attestation::DEFAULT_SERVICE_TIMEOUT)
}

fn parse_attestation_timeout(text: &str) -> Result<f64, String> {
    parse_seconds(text, "attestation", 600.0)
}

fn parse_timeout(text: &str) -> Result<f64, String> {
    parse_seconds(text, "job", 86_400.0)
}

fn parse_seconds(text: &str, what: &str, max: f64) -> Result<f64, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|e| format!("{text:?} is not a number of seconds: {e}"))?;
    if seconds.is_finite() && seconds > 0.0 && seconds <= max {
        Ok(seconds)
    } else {
        Err(format!(
            "the {what} timeout must be between 0 and {max} seconds, not {text}"
        ))
    }
}

impl Config {
    pub fn job_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.job_timeout)
    }

    /// Where to look for each attestation interface, and what to ask the attestation services.
    pub fn devices(&self) -> DevicePaths {
        let timeout = Duration::from_secs_f64(self.attestation_timeout);
        DevicePaths {
            tsm_reports: self.tsm_reports.clone(),
            tpm: self.tpm_device.clone(),
            tpm_event_log: self.tpm_event_log.clone(),
            launcher: Launcher {
                socket: self.launcher_socket.clone(),
                audience: self.token_audience.clone(),
                token_type: self.token_type,
                timeout,
            },
            azure_imds: self.azure_imds_url.clone().with_timeout(timeout),
            choice: self.attestation,
            ..DevicePaths::default()
        }
    }

    /// The listeners to open: --listen, or tcp:0.0.0.0:<port> like the official server.
    pub fn listen_addrs(&self) -> Vec<ListenAddr> {
        if self.listen.is_empty() {
            vec![ListenAddr::Tcp(([0, 0, 0, 0], self.port).into())]
        } else {
            self.listen.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_official_server() {
        let config = Config::try_parse_from(["proof-server"]).unwrap();
        assert_eq!(config.port, 6300);
        assert_eq!(config.job_capacity, 0);
        assert_eq!(config.num_workers, 2);
        assert_eq!(config.job_timeout(), Duration::from_secs(600));
        assert!(!config.no_fetch_params && !config.verbose && !config.tls);
        assert!(!config.require_encryption);
        assert!(config.staple_statement.is_none() && config.staple_signatures.is_empty());
        assert_eq!(config.attestation, AttestationChoice::Auto);
        assert_eq!(config.tpm_device, PathBuf::from("/dev/tpmrm0"));
        assert_eq!(
            config.listen_addrs(),
            vec!["tcp:0.0.0.0:6300".parse().unwrap()]
        );
    }

    #[test]
    fn several_listeners_and_bad_values() {
        let config = Config::try_parse_from([
            "proof-server",
            "--listen",
            "tcp:127.0.0.1:7000",
            "--listen",
            "vsock:6300",
        ])
        .unwrap();
        assert_eq!(config.listen_addrs().len(), 2);
        let stapled = Config::try_parse_from([
            "proof-server",
            "--require-encryption",
            "--staple-statement",
            "s.json",
            "--staple-signature",
            "a.asc",
            "--staple-signature",
            "b.asc",
            "--staple-proof",
            "p.txt",
        ])
        .unwrap();
        assert!(stapled.require_encryption);
        assert_eq!(stapled.staple_signatures.len(), 2);
        assert!(Config::try_parse_from(["proof-server", "--job-timeout", "-1"]).is_err());
        assert!(Config::try_parse_from(["proof-server", "--num-workers", "0"]).is_err());
        assert!(Config::try_parse_from(["proof-server", "--listen", "udp:1"]).is_err());
        let forced = Config::try_parse_from([
            "proof-server",
            "--attestation",
            "tpm",
            "--tpm-device",
            "/run/swtpm.sock",
        ])
        .unwrap();
        assert_eq!(forced.attestation, AttestationChoice::Tpm);
        assert_eq!(forced.tpm_device, PathBuf::from("/run/swtpm.sock"));
        assert!(Config::try_parse_from(["proof-server", "--attestation", "sgx"]).is_err());
    }
}
