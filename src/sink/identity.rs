//! Who wrote a line: the sensor's name (`--sensor-name`, default the host
//! name) and the host it runs on, which the `ecs` and `eve` profiles put
//! on every line (`observer.name` / `observer.hostname`, EVE's `host`), so
//! a fleet's lines say which sensor saw the traffic.

use std::sync::OnceLock;

/// This sensor.
#[derive(Debug, Clone)]
pub struct Sensor {
    /// Its name.
    pub name: String,
    /// The host it runs on.
    pub hostname: String,
    /// `"observer":{...}` for the native profile's lines, when the sensor
    /// was named (`--sensor-name`): a fleet's sensors say who they are.
    pub native_tag: Option<String>,
}

static SENSOR: OnceLock<Sensor> = OnceLock::new();
/// `[sensor] name` of the configuration, when the run read one.
static CONFIGURED: OnceLock<String> = OnceLock::new();

/// Takes the configuration's name for the sensor (`--sensor-name` wins
/// over it). Call before the outputs open.
pub fn configured_name(name: Option<&str>) {
    if let Some(n) = name {
        let _ = CONFIGURED.set(n.to_string());
    }
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Names the sensor (the first call wins; a run names it once).
pub fn name_sensor(name: Option<&str>) {
    let name = name.or(CONFIGURED.get().map(String::as_str));
    let hostname = hostname();
    let native_tag = name.map(|n| {
        format!(
            "\"observer\":{}",
            serde_json::json!({ "name": n, "hostname": hostname })
        )
    });
    let _ = SENSOR.set(Sensor {
        name: name.map_or_else(|| hostname.clone(), str::to_string),
        hostname,
        native_tag,
    });
}

/// The sensor, named after its host unless named before.
pub fn sensor() -> &'static Sensor {
    SENSOR.get_or_init(|| {
        let hostname = hostname();
        Sensor {
            name: hostname.clone(),
            hostname,
            native_tag: None,
        }
    })
}
