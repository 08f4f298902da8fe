//! Which devices a run uses: `cpu`, `cuda`, `cuda:1`, or several GPUs `cuda:0,1,2`.

use loev_model::DeviceChoice;

/// Parses a device list. Several entries mean data-parallel training with global negatives;
/// the first device holds the master weights and computes the loss.
pub fn parse_devices(text: &str) -> Result<Vec<DeviceChoice>, String> {
    let text = text.trim();
    let choices: Vec<DeviceChoice> = match text.strip_prefix("cuda:") {
        Some(list) if list.contains(',') => list
            .split(',')
            .map(|index| {
                format!("cuda:{}", index.trim())
                    .parse::<DeviceChoice>()
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<_, _>>()?,
        _ => vec![text.parse::<DeviceChoice>().map_err(|e| format!("device: {e}"))?],
    };
    let mut seen = Vec::new();
    for choice in &choices {
        if seen.contains(choice) {
            return Err(format!("device: `{choice}` is listed twice in `{text}`"));
        }
        seen.push(*choice);
    }
    Ok(choices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_and_multiple_devices() {
        assert_eq!(parse_devices("cpu").unwrap(), vec![DeviceChoice::Cpu]);
        assert_eq!(parse_devices("cuda").unwrap(), vec![DeviceChoice::Cuda(0)]);
        assert_eq!(
            parse_devices("cuda:0,1, 3").unwrap(),
            vec![DeviceChoice::Cuda(0), DeviceChoice::Cuda(1), DeviceChoice::Cuda(3)]
        );
        assert!(parse_devices("cuda:0,0").is_err());
        assert!(parse_devices("tpu").is_err());
    }
}
