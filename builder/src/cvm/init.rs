//! The CVM's `/init` (a busybox sh script) and the DHCP client's script.

use crate::image::RuntimeConfig;
use crate::recipe::CvmNetwork;

use super::CvmError;

/// Where the initrd keeps `cvm.modules`.
pub const MODULE_DIR: &str = "lib/modules";
/// Busybox udhcpc's default script path, so that the client finds it even when run by hand.
pub const DHCP_SCRIPT_PATH: &str = "usr/share/udhcpc/default.script";

/// Run by busybox udhcpc with `deconfig`, `bound`, `renew`, `leasefail` or `nak`; the lease is in
/// its environment (`ip`, `mask` as a prefix length, `router`, `dns`, `domain`, `mtu`,
/// `staticroutes`).
pub const DHCP_SCRIPT: &str = r#"#!/bin/busybox sh
bb=/bin/busybox
# RFC 3442 classless routes come as "net/len gateway" pairs, gateway 0.0.0.0 meaning on-link; the
# on-link ones go first, as the gateways of the others may only be reachable through them.
classless_routes() {
    for pass in on-link via; do
        set -- $staticroutes
        while [ $# -ge 2 ]; do
            if [ "$2" = 0.0.0.0 ]; then
                [ $pass = on-link ] && $bb ip route replace "$1" dev "$interface"
            else
                [ $pass = via ] && $bb ip route replace "$1" via "$2" dev "$interface"
            fi
            shift 2
        done
    done
}
case "$1" in
deconfig)
    $bb ip -4 addr flush dev "$interface"
    $bb ip link set dev "$interface" up
    ;;
bound|renew)
    [ -n "$mtu" ] && $bb ip link set dev "$interface" mtu "$mtu"
    # A renewal of the same address keeps it: flushing would cut the open connections' routes.
    if ! $bb ip -4 addr show dev "$interface" | $bb grep -q "inet $ip/$mask "; then
        $bb ip -4 addr flush dev "$interface"
        $bb ip addr add "$ip/$mask" ${broadcast:+broadcast "$broadcast"} dev "$interface"
    fi
    # RFC 3442: a server that sends classless routes means them instead of its router option.
    if [ -n "$staticroutes" ]; then
        classless_routes
    else
        for gw in $router; do
            # On-link first: some clouds (GCP) lease a /32 address, outside which the gateway sits.
            $bb ip route replace "$gw" dev "$interface"
            $bb ip route replace default via "$gw" dev "$interface"
            break
        done
    fi
    if [ -n "$dns" ]; then
        $bb mkdir -p /etc
        {
            [ -n "$domain" ] && echo "search $domain"
            for ns in $dns; do echo "nameserver $ns"; done
        } > /etc/resolv.conf
    fi
    ;;
esac
exit 0
"#;

/// Quotes a word for the init script (POSIX sh single quotes).
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The `/init` script: mount what the kernel does not (securityfs too, where the TPM event log is), load the recipe's modules (before configfs,
/// which carries the TSM attestation interface the prover reads and may itself be a module), bring
/// the network up when asked, apply the image's environment and working directory, then run the
/// command. When it ends, for any reason, the VM powers off: init exiting would panic the kernel
/// instead.
///
/// A module that fails to load is reported and skipped, not fatal: one initrd serves hosts with
/// different devices, and a platform driver refuses to load where its device is absent. A network
/// that was asked for and got no lease is fatal, as the command would be unreachable.
pub fn init_script(
    runtime: &RuntimeConfig,
    modules: &[String],
    network: CvmNetwork,
) -> Result<String, CvmError> {
    let mut argv = runtime.entrypoint.clone();
    argv.extend(runtime.cmd.iter().cloned());
    if argv.is_empty() {
        return Err(CvmError::Bundle(
            "the runtime config has neither entrypoint nor cmd: nothing to start".into(),
        ));
    }
    let mut script = String::from(
        "#!/bin/busybox sh\n\
         /bin/busybox mkdir -p /proc /sys /dev /run /tmp\n\
         /bin/busybox mount -t proc proc /proc\n\
         /bin/busybox mount -t sysfs sysfs /sys\n\
         /bin/busybox mount -t devtmpfs devtmpfs /dev\n",
    );
    for module in modules {
        let path = quote(&format!("/{MODULE_DIR}/{module}"));
        let message = quote(&format!("init: cannot load {module}; going on without it"));
        script.push_str(&format!("/bin/busybox insmod {path} || echo {message}\n"));
    }
    script.push_str(
        "/bin/busybox mount -t configfs configfs /sys/kernel/config || true\n\
         /bin/busybox mount -t securityfs securityfs /sys/kernel/security || true\n\
         /bin/busybox mount -t tmpfs tmpfs /run\n\
         /bin/busybox ip link set lo up || true\n",
    );
    match network {
        CvmNetwork::None => {}
        CvmNetwork::Dhcp => {
            // -n: give up (and power off) after 20 tries 3 s apart; once leased, udhcpc goes to the
            // background and renews. staticroutes and mtu are not requested by default.
            script.push_str(&format!(
                "/bin/busybox udhcpc -i eth0 -s /{DHCP_SCRIPT_PATH} -O staticroutes -O mtu -t 20 -T 3 -n \
                 || {{ echo 'init: eth0 got no DHCP lease; powering off'; /bin/busybox poweroff -f; }}\n"
            ));
        }
    }
    for var in &runtime.env {
        if !var.contains('=') {
            return Err(CvmError::Bundle(format!(
                "environment entry {var:?} is not NAME=value"
            )));
        }
        script.push_str(&format!("export {}\n", quote(var)));
    }
    if let Some(dir) = &runtime.working_dir {
        script.push_str(&format!("cd {}\n", quote(dir)));
    }
    let command: Vec<String> = argv.iter().map(|w| quote(w)).collect();
    let command = command.join(" ");
    // The VM is single-purpose and Debian's static busybox has no uid-switching applet, so the
    // command runs as root there; the OCI image applies `user`.
    script.push_str(&format!(
        "{command}\n\
         echo \"init: the command exited with status $?; powering off\"\n\
         /bin/busybox poweroff -f\n"
    ));
    Ok(script)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prover() -> RuntimeConfig {
        RuntimeConfig {
            entrypoint: vec!["/usr/local/bin/proof-server".into()],
            cmd: vec!["--port".into(), "6300".into(), "it's".into()],
            env: vec!["RUST_LOG=info".into()],
            user: Some("65534:65534".into()),
            ..RuntimeConfig::default()
        }
    }

    #[test]
    fn init_script_quotes_every_word() {
        let script = init_script(&prover(), &[], CvmNetwork::None).unwrap();
        assert!(script.starts_with("#!/bin/busybox sh\n"));
        assert!(script.contains("export 'RUST_LOG=info'\n"));
        assert!(script.contains(
            "'/usr/local/bin/proof-server' '--port' '6300' 'it'\\''s'\n\
             echo \"init: the command exited with status $?; powering off\"\n\
             /bin/busybox poweroff -f\n"
        ));
        assert!(!script.contains("insmod") && !script.contains("udhcpc"));
    }

    #[test]
    fn modules_load_in_order_before_configfs_and_the_network() {
        let modules = ["virtio_ring.ko".to_owned(), "virtio.ko".to_owned()];
        let script = init_script(&prover(), &modules, CvmNetwork::Dhcp).unwrap();
        let at = |needle: &str| {
            script
                .find(needle)
                .unwrap_or_else(|| panic!("{needle:?} not in\n{script}"))
        };
        let ring = at("/bin/busybox insmod '/lib/modules/virtio_ring.ko' || echo 'init: cannot load virtio_ring.ko; going on without it'\n");
        let virtio = at("insmod '/lib/modules/virtio.ko'");
        let devtmpfs = at("mount -t devtmpfs");
        let configfs = at("mount -t configfs");
        let dhcp = at("/bin/busybox udhcpc -i eth0 -s /usr/share/udhcpc/default.script");
        let command = at("'/usr/local/bin/proof-server'");
        assert!(devtmpfs < ring && ring < virtio && virtio < configfs);
        assert!(configfs < dhcp && dhcp < command);
        assert!(script.contains(
            "|| { echo 'init: eth0 got no DHCP lease; powering off'; /bin/busybox poweroff -f; }\n"
        ));
    }

    #[test]
    fn nothing_to_run_is_an_error() {
        assert!(init_script(&RuntimeConfig::default(), &[], CvmNetwork::None).is_err());
    }

    /// The DHCP script under a real busybox sh, with `ip` replaced by a recorder: what it would
    /// configure for a plain lease, for a /32 lease (GCP) and for classless routes.
    #[test]
    fn dhcp_script_configures_what_the_lease_says() {
        let busybox = std::path::Path::new("/bin/busybox");
        assert!(
            busybox.exists(),
            "/bin/busybox is missing: install Debian's busybox-static (ci/setup.sh does)"
        );
        let dir = tempfile::tempdir().unwrap();
        // The script calls /bin/busybox by path; run it with `bb` pointing at a shim that logs `ip`
        // and delegates the rest to busybox.
        let log = dir.path().join("ip.log");
        let shim = dir.path().join("bb");
        std::fs::write(
            &shim,
            format!(
                "#!/bin/busybox sh\nif [ \"$1\" = ip ]; then shift; echo \"ip $*\" >> {log}; exit 0; fi\nexec /bin/busybox \"$@\"\n",
                log = log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let script = DHCP_SCRIPT.replace("bb=/bin/busybox", &format!("bb={}", shim.display()));
        let script = script.replace(
            "/etc/resolv.conf",
            &dir.path().join("resolv.conf").display().to_string(),
        );
        let run = |env: &[(&str, &str)]| {
            let _ = std::fs::remove_file(&log);
            let status = std::process::Command::new(busybox)
                .args(["sh", "-c", &script, "default.script", "bound"])
                .env_clear()
                .env("interface", "eth0")
                .envs(env.iter().copied())
                .status()
                .unwrap();
            assert!(status.success());
            std::fs::read_to_string(&log).unwrap_or_default()
        };
        let plain = run(&[
            ("ip", "10.0.2.15"),
            ("mask", "24"),
            ("router", "10.0.2.2"),
            ("dns", "10.0.2.3"),
            ("mtu", "1460"),
        ]);
        assert!(plain.contains("ip link set dev eth0 mtu 1460\n"), "{plain}");
        assert!(
            plain.contains("ip addr add 10.0.2.15/24 dev eth0\n"),
            "{plain}"
        );
        assert!(plain.ends_with(
            "ip route replace 10.0.2.2 dev eth0\nip route replace default via 10.0.2.2 dev eth0\n"
        ), "{plain}");
        let resolv = std::fs::read_to_string(dir.path().join("resolv.conf")).unwrap();
        assert_eq!(resolv, "nameserver 10.0.2.3\n");

        let classless = run(&[
            ("ip", "10.128.0.5"),
            ("mask", "32"),
            ("router", "10.128.0.1"),
            ("staticroutes", "0.0.0.0/0 10.128.0.1 10.128.0.1/32 0.0.0.0"),
        ]);
        assert!(classless.ends_with(
            "ip route replace 10.128.0.1/32 dev eth0\nip route replace 0.0.0.0/0 via 10.128.0.1 dev eth0\n"
        ), "{classless}");
    }
}
