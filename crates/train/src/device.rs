//! Which devices a run uses: `cpu`, `cuda:1`, `vulkan:0`, or several GPUs `cuda:0,1,2` (data
//! parallel with global negatives; see [`crate::step`]). The names are `loev_model`'s.

use burn::tensor::Device;
use loev_model::{DeviceChoice, check_device, parse_device_list, select_device};

/// Parses a device list (see [`loev_model::parse_device_list`]).
pub fn parse_devices(text: &str) -> Result<Vec<DeviceChoice>, String> {
    parse_device_list(text).map_err(|e| format!("device: {e}"))
}

/// Opens every device of a list with autodiff (training), checking that each one computes; the
/// first is the main device (master weights, loss, optimizer).
pub fn open_training_devices(text: &str) -> Result<Vec<Device>, String> {
    parse_devices(text)?
        .into_iter()
        .map(|choice| {
            let device = select_device(choice, true).map_err(|e| e.to_string())?;
            check_device(choice, &device).map_err(|e| e.to_string())?;
            Ok(device)
        })
        .collect()
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
        assert!(parse_devices("tpu").unwrap_err().starts_with("device: "));
        assert_eq!(open_training_devices("cpu").unwrap().len(), 1);
    }
}
