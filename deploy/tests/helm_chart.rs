//! The Helm chart, deploy/helm/wiregate, rendered by Helm's own engine and checked.
//!
//! tests/chart/render.py drives the tools (Helm's Go SDK through helm-python-sdk for
//! `helm template` and `helm lint`, kubernetes-validate for the Kubernetes schemas,
//! yamllint) and hands back their verdicts with the rendered objects. Here the verdicts
//! must be clean, and the objects must hold what the gateway needs: NET_ADMIN, the TUN
//! device, a volume for the store, UDP ports that are the tunnels' ports, a
//! ServiceMonitor only when asked, no secret in the ConfigMap, and more than one replica
//! only on PostgreSQL (its URL from a Secret), spread over nodes, with a disruption
//! budget. Values files: the defaults, and ci/*.yaml, which between them set every option.
//!
//! A missing tool is a failure, never a skip; deploy/helm/README.md says what to install.

mod chart;

use base64::Engine as _;
use chart::{
    KEY_DIR, VALUES_FILES, config, configmap_text, container, container_port, env_var, mount_path,
    objects, one, pod_volume, render, rendered, service, tunnels,
};
use serde_json::Value;

#[test]
fn every_values_file_renders_clean_manifests() {
    for file in VALUES_FILES {
        let report = rendered(file);
        let lint: Vec<&Value> = report["lint"]
            .as_array()
            .expect("lint findings")
            .iter()
            .filter(|m| m["severity"] != "info")
            .collect();
        assert!(lint.is_empty(), "values {file:?}: helm lint: {lint:#?}");
        assert_eq!(report["yamllint"], serde_json::json!([]), "values {file:?}");
        assert_eq!(
            report["schema_errors"],
            serde_json::json!([]),
            "values {file:?}"
        );
        // Kubernetes has no schema for the operator's CRD; its fields are checked below.
        for unknown in report["schema_unknown"].as_array().expect("a list") {
            assert!(
                unknown.as_str().unwrap().starts_with("ServiceMonitor/"),
                "{unknown}"
            );
        }
    }
}

#[test]
fn every_ci_file_is_rendered() {
    // A values file missing from VALUES_FILES would be checked by nothing here.
    for entry in std::fs::read_dir(chart::chart_dir().join("ci")).expect("ci/") {
        let name = format!("ci/{}", entry.unwrap().file_name().to_string_lossy());
        assert!(
            VALUES_FILES.contains(&Some(name.as_str())),
            "{name} is not in VALUES_FILES"
        );
    }
}

/// The StatefulSet's pod template spec.
fn pod_spec(report: &Value) -> &Value {
    &one(report, "StatefulSet")["spec"]["template"]["spec"]
}

/// Whether a label selector's matchLabels select the StatefulSet's pods.
fn selects_the_pods(report: &Value, selector: &Value) -> bool {
    let labels = &one(report, "StatefulSet")["spec"]["template"]["metadata"]["labels"];
    let wanted = selector["matchLabels"].as_object().expect("matchLabels");
    !wanted.is_empty() && wanted.iter().all(|(k, v)| &labels[k] == v)
}

#[test]
fn more_than_one_replica_only_on_postgresql() {
    for file in VALUES_FILES {
        let report = rendered(file);
        let replicas = one(report, "StatefulSet")["spec"]["replicas"]
            .as_u64()
            .expect("replicas");
        assert_eq!(Some(replicas), report["values"]["replicaCount"].as_u64());
        // One SQLite file, one pod: two would each own a copy of the truth.
        let fleet = replicas > 1;
        assert!(
            !fleet || env_var(report, "WIREGATE_STORE_URL").is_some(),
            "values {file:?}: {replicas} replicas on SQLite"
        );
        // Only a fleet gets a budget: one for a single pod would just block its drain.
        let budgets = objects(report, "PodDisruptionBudget");
        assert_eq!(budgets.len(), usize::from(fleet), "values {file:?}");
        for budget in budgets {
            assert_eq!(budget["apiVersion"], "policy/v1");
            assert!(selects_the_pods(report, &budget["spec"]["selector"]));
        }
        let expected = match file {
            Some("ci/fleet-values.yaml") => 3,
            Some("ci/full-values.yaml") => 2,
            _ => 1,
        };
        assert_eq!(replicas, expected, "values {file:?}");
    }
}

#[test]
fn the_defaults_run_one_gateway_without_a_budget() {
    let report = rendered(None);
    assert_eq!(one(report, "StatefulSet")["spec"]["replicas"], 1);
    assert!(objects(report, "PodDisruptionBudget").is_empty());
    assert!(
        pod_spec(report).get("affinity").is_none(),
        "no anti-affinity"
    );
    assert!(pod_spec(report).get("topologySpreadConstraints").is_none());
    assert!(env_var(report, "WIREGATE_STORE_URL").is_none(), "SQLite");
}

#[test]
fn the_fleet_values_run_three_gateways_apart() {
    let report = rendered(Some("ci/fleet-values.yaml"));
    assert_eq!(one(report, "StatefulSet")["spec"]["replicas"], 3);
    let store_url = env_var(report, "WIREGATE_STORE_URL").expect("the store's URL");
    assert_eq!(
        store_url["valueFrom"]["secretKeyRef"],
        serde_json::json!({"name": "wiregate-store", "key": "url"})
    );
    assert!(
        store_url.get("value").is_none(),
        "the URL itself in the pod"
    );
    // Soft by default: a pod short of a node of its own still runs.
    let anti = &pod_spec(report)["affinity"]["podAntiAffinity"];
    assert!(
        anti.get("requiredDuringSchedulingIgnoredDuringExecution")
            .is_none()
    );
    let preferred = anti["preferredDuringSchedulingIgnoredDuringExecution"]
        .as_array()
        .expect("a preferred anti-affinity");
    let term = &preferred[0]["podAffinityTerm"];
    assert_eq!(term["topologyKey"], "kubernetes.io/hostname");
    assert!(selects_the_pods(report, &term["labelSelector"]), "{term}");
    assert_eq!(
        pod_spec(report)["topologySpreadConstraints"],
        report["values"]["topologySpreadConstraints"]
    );
    let budget = &one(report, "PodDisruptionBudget")["spec"];
    assert_eq!(budget["maxUnavailable"], 1);
    assert!(budget.get("minAvailable").is_none(), "one of the two only");
}

#[test]
fn a_given_affinity_and_budget_are_used_as_they_are() {
    // full-values.yaml: two replicas, its own affinity, minAvailable, a URL inline.
    let report = rendered(Some("ci/full-values.yaml"));
    assert_eq!(pod_spec(report)["affinity"], report["values"]["affinity"]);
    let budget = &one(report, "PodDisruptionBudget")["spec"];
    assert_eq!(budget["minAvailable"], 1);
    assert!(
        budget.get("maxUnavailable").is_none(),
        "one of the two only"
    );
    assert_eq!(
        service(report, "tunnels")["spec"]["sessionAffinity"],
        "ClientIP"
    );
}

#[test]
fn the_anti_affinity_can_be_required_or_left_out() {
    let fleet = "replicaCount: 2\n\
                 store: {postgres: {url: 'postgres://db.example.net/wiregate'}}\n\
                 secret: {apiToken: a-token-of-16-characters}\n\
                 podDisruptionBudget: {maxUnavailable: 50%}";
    for anti in ["hard", "none"] {
        let report = render(
            None,
            Some(&format!("{fleet}\npodAntiAffinity: {{type: {anti}}}")),
        );
        assert!(
            report["render_error"].is_null(),
            "{}",
            report["render_error"]
        );
        assert_eq!(report["schema_errors"], serde_json::json!([]), "{anti}");
        let affinity = pod_spec(&report).get("affinity");
        if anti == "none" {
            assert!(affinity.is_none(), "{affinity:?}");
            continue;
        }
        let anti = &affinity.expect("an affinity")["podAntiAffinity"];
        assert!(
            anti.get("preferredDuringSchedulingIgnoredDuringExecution")
                .is_none()
        );
        let term = &anti["requiredDuringSchedulingIgnoredDuringExecution"][0];
        assert_eq!(term["topologyKey"], "kubernetes.io/hostname");
        assert!(selects_the_pods(&report, &term["labelSelector"]), "{term}");
        let budget = &one(&report, "PodDisruptionBudget")["spec"];
        assert_eq!(budget["maxUnavailable"], "50%");
    }
}

#[test]
fn the_store_url_comes_from_a_secret() {
    let b64 = base64::engine::general_purpose::STANDARD;
    for file in VALUES_FILES {
        let report = rendered(file);
        let postgres = &report["values"]["store"]["postgres"];
        let (url, existing) = (
            postgres["url"].as_str().unwrap(),
            postgres["existingSecret"].as_str().unwrap(),
        );
        let from = env_var(report, "WIREGATE_STORE_URL").map(|e| {
            assert!(
                e.get("value").is_none(),
                "values {file:?}: the URL in the pod"
            );
            &e["valueFrom"]["secretKeyRef"]
        });
        let source = match (url, existing, from) {
            ("", "", None) => "sqlite",
            ("", existing, Some(from)) => {
                assert_eq!(from["name"], existing, "values {file:?}");
                assert_eq!(from["key"], postgres["urlKey"]);
                "existing"
            }
            (url, "", Some(from)) => {
                let secret = one(report, "Secret");
                assert_eq!(from["name"], secret["metadata"]["name"]);
                let data = &secret["data"][from["key"].as_str().unwrap()];
                let decoded = b64.decode(data.as_str().expect("the URL's entry")).unwrap();
                assert_eq!(decoded, url.as_bytes(), "values {file:?}");
                "chart"
            }
            _ => panic!("values {file:?}: store {postgres}, env {from:?}"),
        };
        let expected = match file {
            Some("ci/fleet-values.yaml") => "existing",
            Some("ci/full-values.yaml") => "chart",
            _ => "sqlite",
        };
        assert_eq!(source, expected, "values {file:?}");
        // wiregate.toml leaves the store to the environment.
        assert!(config(report).get("store").is_none());
    }
}

#[test]
fn the_pod_gets_net_admin_and_the_tun_device() {
    for file in VALUES_FILES {
        let report = rendered(file);
        let security = &container(report)["securityContext"];
        let added = security["capabilities"]["add"]
            .as_array()
            .expect("capabilities.add");
        assert!(
            added.contains(&"NET_ADMIN".into()),
            "values {file:?}: {security}"
        );
        assert!(
            added.contains(&"NET_BIND_SERVICE".into()),
            "values {file:?}"
        );
        assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
        assert_eq!(security["allowPrivilegeEscalation"], false);
        let tun = pod_volume(report, "tun").expect("a tun volume");
        assert_eq!(tun["hostPath"]["path"], "/dev/net/tun", "values {file:?}");
        assert_eq!(tun["hostPath"]["type"], "CharDevice");
        assert_eq!(mount_path(report, "tun"), Some("/dev/net/tun"));
        assert_eq!(mount_path(report, "uapi"), Some("/var/run/wireguard"));
    }
}

#[test]
fn the_state_directory_is_on_a_persistent_volume() {
    for file in VALUES_FILES {
        let report = rendered(file);
        let args = container(report)["args"].as_array().expect("args").clone();
        let at = args
            .iter()
            .position(|a| a == "--state-dir")
            .expect("--state-dir");
        assert_eq!(args[at + 1], "/var/lib/wiregate");
        assert_eq!(mount_path(report, "state"), Some("/var/lib/wiregate"));
        let persistent = report["values"]["persistence"]["enabled"] == true;
        // The defaults keep the store; only existing-secret-values.yaml turns that off.
        assert_eq!(persistent, file != Some("ci/existing-secret-values.yaml"));
        let claims = &one(report, "StatefulSet")["spec"]["volumeClaimTemplates"];
        if persistent {
            assert_eq!(claims[0]["metadata"]["name"], "state", "values {file:?}");
            assert_eq!(
                claims[0]["spec"]["resources"]["requests"]["storage"],
                report["values"]["persistence"]["size"]
            );
            assert!(
                pod_volume(report, "state").is_none(),
                "the claim, not a pod volume"
            );
        } else {
            assert!(
                claims.is_null(),
                "values {file:?}: no claim without persistence"
            );
            assert!(pod_volume(report, "state").expect("a state volume")["emptyDir"].is_object());
        }
    }
}

#[test]
fn udp_service_ports_are_the_tunnels_listen_ports() {
    for file in VALUES_FILES {
        let report = rendered(file);
        let config = config(report);
        let mut listen_ports: Vec<u64> = tunnels(&config)
            .iter()
            .map(|t| t["listen_port"].as_integer().expect("listen_port") as u64)
            .collect();
        let udp = service(report, "tunnels");
        let mut service_ports = Vec::new();
        for port in udp["spec"]["ports"].as_array().expect("ports") {
            assert_eq!(port["protocol"], "UDP", "values {file:?}: {port}");
            let target = port["targetPort"].as_str().expect("a named target port");
            let (number, protocol) = container_port(report, target);
            assert_eq!(
                (number, protocol.as_str()),
                (port["port"].as_u64().unwrap(), "UDP")
            );
            service_ports.push(number);
        }
        listen_ports.sort_unstable();
        service_ports.sort_unstable();
        assert_eq!(listen_ports, service_ports, "values {file:?}");
        assert_eq!(
            udp["spec"]["type"],
            report["values"]["service"]["udp"]["type"]
        );
        let names: Vec<&str> = tunnels(&config)
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        let given: Vec<&str> = report["values"]["tunnels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names, given,
            "values {file:?}: the file's tunnels are the values'"
        );
    }
}

#[test]
fn api_and_metrics_listen_where_the_service_and_probes_look() {
    for file in VALUES_FILES {
        let report = rendered(file);
        let config = config(report);
        for (table, port_name) in [("api", "api"), ("metrics", "metrics")] {
            let (number, _) = container_port(report, port_name);
            assert_eq!(
                config[table]["listen"].as_str(),
                Some(format!("0.0.0.0:{number}").as_str()),
                "values {file:?}: [{table}] listen"
            );
            let api_service = service(report, "api");
            let ports = api_service["spec"]["ports"].as_array().expect("ports");
            assert!(
                ports.iter().any(|p| p["targetPort"] == port_name),
                "{api_service}"
            );
        }
        assert_eq!(service(report, "api")["spec"]["type"], "ClusterIP");
        for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
            let get = &container(report)[probe]["httpGet"];
            assert_eq!(get["path"], "/v1/health", "values {file:?}: {probe}");
            assert_eq!(get["port"], "api");
        }
    }
}

#[test]
fn the_service_monitor_exists_only_when_enabled() {
    for file in VALUES_FILES {
        let report = rendered(file);
        let monitors = objects(report, "ServiceMonitor");
        let enabled = report["values"]["serviceMonitor"]["enabled"] == true;
        // Off by default (it needs prometheus-operator's CRDs); full-values.yaml asks.
        assert_eq!(enabled, file == Some("ci/full-values.yaml"));
        if !enabled {
            assert!(
                monitors.is_empty(),
                "values {file:?}: a ServiceMonitor not asked for"
            );
            continue;
        }
        let monitor = one(report, "ServiceMonitor");
        assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
        let selector = monitor["spec"]["selector"]["matchLabels"]
            .as_object()
            .unwrap();
        let selects = |s: &Value| {
            selector
                .iter()
                .all(|(k, v)| &s["metadata"]["labels"][k] == v)
        };
        assert!(
            selects(service(report, "api")),
            "it selects the API Service"
        );
        assert!(!selects(service(report, "tunnels")), "and not the UDP one");
        let endpoint = &monitor["spec"]["endpoints"][0];
        assert_eq!(endpoint["port"], "metrics");
        assert_eq!(endpoint["path"], "/metrics");
        // prometheus-operator's duration syntax, as its CRD's pattern has it.
        for field in ["interval", "scrapeTimeout"] {
            let value = endpoint[field].as_str().expect("a duration");
            let (digits, unit) = value.split_at(value.trim_end_matches(char::is_alphabetic).len());
            assert!(
                !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
                "{field}: {value}"
            );
            assert!(["ms", "s", "m", "h"].contains(&unit), "{field}: {value}");
        }
    }
}

#[test]
fn secrets_stay_out_of_the_configmap() {
    for file in VALUES_FILES {
        let report = rendered(file);
        let values = &report["values"];
        let text = configmap_text(report);
        let config = config(report);
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut secrets: Vec<String> = vec![
            values["secret"]["apiToken"].as_str().unwrap().into(),
            values["store"]["postgres"]["url"].as_str().unwrap().into(),
        ];
        for tunnel in values["tunnels"].as_array().unwrap() {
            secrets.extend(tunnel["privateKey"].as_str().map(str::to_owned));
        }
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            assert!(
                !text.contains(secret.as_str()),
                "values {file:?}: a secret in the ConfigMap"
            );
            assert!(
                !text.contains(&b64.encode(secret)),
                "values {file:?}: base64 of one"
            );
        }
        assert!(
            config["api"].get("tokens").is_none()
                && config["api"].get("read_only_tokens").is_none()
        );
        for tunnel in tunnels(&config) {
            assert!(
                tunnel.get("private_key").is_none(),
                "an inline key: {tunnel}"
            );
            for peer in tunnel
                .get("peer")
                .and_then(toml::Value::as_array)
                .into_iter()
                .flatten()
            {
                assert!(
                    peer.get("preshared_key").is_none(),
                    "an inline preshared key"
                );
            }
        }
    }
}

#[test]
fn keys_and_the_token_come_from_the_secret() {
    for file in VALUES_FILES {
        let report = rendered(file);
        let values = &report["values"];
        let config = config(report);
        let b64 = base64::engine::general_purpose::STANDARD;
        let keys_volume = pod_volume(report, "keys");
        let existing = values["secret"]["existingSecret"].as_str().unwrap();
        let chart_secrets = objects(report, "Secret");
        for (tunnel, given) in tunnels(&config)
            .iter()
            .zip(values["tunnels"].as_array().unwrap())
        {
            let name = tunnel["name"].as_str().unwrap();
            let entry = match given["privateKey"].as_str().unwrap_or("") {
                "" => given["privateKeySecretKey"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                key => {
                    let data = &one(report, "Secret")["data"][format!("{name}.key")];
                    let decoded = b64.decode(data.as_str().expect("the key's entry")).unwrap();
                    assert_eq!(decoded, format!("{key}\n").as_bytes(), "tunnel {name}");
                    format!("{name}.key")
                }
            };
            let file_path = tunnel.get("private_key_file").and_then(toml::Value::as_str);
            if entry.is_empty() {
                assert_eq!(file_path, None, "tunnel {name}: wiregate generates its key");
                continue;
            }
            assert_eq!(file_path, Some(format!("{KEY_DIR}/{name}.key").as_str()));
            let secret = &keys_volume.expect("a keys volume")["secret"];
            let item = secret["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["key"] == entry.as_str());
            assert_eq!(item.expect("the key's item")["path"], format!("{name}.key"));
            assert_eq!(secret["defaultMode"], 0o400, "owner-only key files");
            let expected_secret = if existing.is_empty() {
                chart_secrets[0]["metadata"]["name"].clone()
            } else {
                existing.into()
            };
            assert_eq!(secret["secretName"], expected_secret);
        }
        assert_eq!(mount_path(report, "keys").is_some(), keys_volume.is_some());
        if keys_volume.is_some() {
            assert_eq!(mount_path(report, "keys"), Some(KEY_DIR));
        }
        if !existing.is_empty() {
            assert!(
                chart_secrets.is_empty(),
                "values {file:?}: a Secret beside the user's"
            );
        }
        let token_from =
            env_var(report, "WIREGATE_API_TOKEN").map(|e| &e["valueFrom"]["secretKeyRef"]);
        let token_entry = match values["secret"]["apiToken"].as_str().unwrap() {
            "" => values["secret"]["apiTokenKey"].as_str().unwrap(),
            _ => "api-token",
        };
        match token_from {
            None => assert_eq!(
                token_entry, "",
                "values {file:?}: the token is not passed on"
            ),
            Some(from) => assert_eq!(from["key"], token_entry, "values {file:?}"),
        }
    }
}

#[test]
fn the_config_has_only_fields_wiregate_knows() {
    // wiregate refuses unknown fields (docs/configuration.md, docs/metrics.md), so a
    // misspelt key in the template would keep the pod from starting.
    let known = |table: &toml::Table, fields: &[&str], at: &str| {
        for key in table.keys() {
            assert!(fields.contains(&key.as_str()), "{at}: unknown field {key}");
        }
    };
    for file in VALUES_FILES {
        let report = rendered(file);
        let config = config(report);
        let top = [
            "state_dir",
            "reconcile_interval",
            "shards",
            "api",
            "metrics",
            "tunnel",
        ];
        known(&config, &top, "top level");
        known(
            config["api"].as_table().unwrap(),
            &["listen", "tokens", "read_only_tokens"],
            "[api]",
        );
        known(
            config["metrics"].as_table().unwrap(),
            &["enabled", "listen", "peer_series"],
            "[metrics]",
        );
        let tunnel_fields = [
            "name",
            "listen_port",
            "private_key",
            "private_key_file",
            "addresses",
            "mtu",
            "fwmark",
            "pools",
            "public_endpoint",
            "dns",
            "keep_private_keys",
            "backend",
            "peer",
        ];
        let peer_fields = [
            "public_key",
            "preshared_key",
            "allowed_ips",
            "endpoint",
            "persistent_keepalive",
        ];
        for tunnel in tunnels(&config) {
            known(tunnel.as_table().unwrap(), &tunnel_fields, "[[tunnel]]");
            for peer in tunnel
                .get("peer")
                .and_then(toml::Value::as_array)
                .into_iter()
                .flatten()
            {
                known(peer.as_table().unwrap(), &peer_fields, "[[tunnel.peer]]");
            }
        }
    }
}

#[test]
fn values_that_cannot_work_are_refused_by_name() {
    let tunnel = "tunnels: [{name: wg0, listenPort: 51820}]";
    let postgres = "store: {postgres: {url: 'postgres://db/w'}}";
    for (values, expected) in [
        ("tunnels: []".to_owned(), "at least one tunnel"),
        (
            "tunnels: [{name: wg0, listenPort: 0}]".into(),
            "listenPort must be 1-65535",
        ),
        (
            "tunnels: [{name: a, listenPort: 51820}, {name: b, listenPort: 51820}]".into(),
            "listenPort 51820 is used by two tunnels",
        ),
        (
            "tunnels: [{name: wg0, listenPort: 51820, peers: [{publicKey: k, presharedKey: p}]}]"
                .into(),
            "presharedKey",
        ),
        (
            "tunnels: [{name: wg0, listenPort: 51820, privateKey: k}]\nsecret: {existingSecret: s}"
                .into(),
            "privateKey goes into the chart's Secret",
        ),
        (
            format!("{tunnel}\nsecret: {{apiToken: short}}"),
            "at least 16 characters",
        ),
        (
            format!("{tunnel}\nsecret: {{apiTokenKey: t}}"),
            "apiTokenKey names an entry",
        ),
        (
            format!("{tunnel}\nservice: {{udp: {{type: ClusterIP}}}}"),
            "LoadBalancer or NodePort",
        ),
        (
            format!("{tunnel}\nmetricsPort: 8080"),
            "listeners of their own",
        ),
        (
            format!("{tunnel}\nreplicaCount: 2"),
            "replicaCount is 2, but the store is SQLite",
        ),
        (
            format!("{tunnel}\nreplicaCount: -1"),
            "replicaCount must be 0 or more",
        ),
        (
            format!("{tunnel}\nreplicaCount: 2\n{postgres}"),
            "they need one token",
        ),
        (
            format!("{tunnel}\nstore: {{postgres: {{url: 'mysql://db/w'}}}}"),
            "must be a PostgreSQL URL",
        ),
        (
            format!(
                "{tunnel}\nstore: {{postgres: {{url: 'postgres://db/w', \
                 existingSecret: s, urlKey: u}}}}"
            ),
            "give one of them",
        ),
        (
            format!("{tunnel}\n{postgres}\nsecret: {{existingSecret: s}}"),
            "store.postgres.existingSecret and store.postgres.urlKey",
        ),
        (
            format!("{tunnel}\nstore: {{postgres: {{existingSecret: s}}}}"),
            "store.postgres.urlKey must name its entry",
        ),
        (
            format!("{tunnel}\nstore: {{postgres: {{urlKey: u}}}}"),
            "urlKey names an entry of store.postgres.existingSecret",
        ),
        (
            format!("{tunnel}\npodAntiAffinity: {{type: always}}"),
            "soft, hard or none",
        ),
        (
            format!("{tunnel}\nservice: {{udp: {{sessionAffinity: Sticky}}}}"),
            "None or ClientIP",
        ),
    ] {
        let report = render(None, Some(&values));
        let error = report["render_error"].as_str().unwrap_or_else(|| {
            panic!("values accepted that should be refused ({expected}):\n{values}")
        });
        assert!(
            error.contains(expected),
            "refused for another reason than {expected}: {error}"
        );
    }
}
