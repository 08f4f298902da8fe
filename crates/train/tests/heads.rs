//! Training and the Python bindings take their heads from one function
//! (`loev_objective::heads`): the run plan's heads, the model file's, and those behind
//! `loev.positive_masks(..., config=…)` (`loev_objective::Recipe`) are the same list, also when
//! a tracked augmentation is never applied (p = 0), where the bindings used to build a
//! leave-out head for every tracking column.

use loev_augment::ChainConfig;
use loev_objective::{HeadObjective, PRESET_NAMES, Recipe, ViewLabels, positive_masks};
use loev_train::{RunPlan, preset};

#[test]
fn a_tracked_augmentation_with_p_0_gives_the_same_heads_in_training_and_in_python() {
    let chain = "variant = [\"pitch_shift\", \"time_stretch\"]\n[time_stretch]\np = 0.0\n";
    let python = Recipe::parse(chain).expect("a chain").heads();
    let mut config = preset("loev-psts:test").expect("preset");
    config.augment = ChainConfig::from_toml_str(chain).expect("a chain");
    let plan = RunPlan::new(config).expect("a valid run");
    assert_eq!(python, plan.heads);
    assert_eq!(plan.heads.names(), ["invariant", "pitch_shift"]);
    assert_eq!(plan.model.heads, plan.heads.names());
    assert_eq!(plan.model_file_info(0).heads, python.infos());

    // The masks the bindings return are the loss's positive sets for those heads: two heads,
    // not one per tracking column.
    let labels = ViewLabels {
        clip_ids: vec![0, 0, 1, 1],
        tracking: vec![0, 0, 1, 0, 0, 1, 0, 1],
        n_variants: 2,
    };
    let masks = positive_masks(&labels, python.objectives()).expect("masks");
    assert_eq!(masks.len(), 2 * 4 * 4);
    let at = |h: usize, i: usize, j: usize| masks[(h * 4 + i) * 4 + j];
    assert!(at(0, 0, 1) && at(0, 2, 3));
    // Head 1 leaves out pitch shift (column 0): view 1 was shifted, views 2 and 3 were not.
    assert!(!at(1, 0, 1) && at(1, 2, 3));
    assert_eq!(python.objectives()[1], HeadObjective::LeaveOut { variant: 0 });
}

#[test]
fn every_preset_has_the_same_heads_in_training_and_in_python() {
    for name in PRESET_NAMES {
        let spec = format!("{name}:tiny");
        let training = RunPlan::new(preset(&spec).expect("preset")).expect("a valid run").heads;
        let python = Recipe::parse(&spec).expect("a preset").heads();
        assert_eq!(training, python, "{name}");
    }
}
