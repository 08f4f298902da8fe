//! `pretrain_or_resume`, what experiments train with: a new folder is trained, an interrupted
//! run is resumed, a finished one is reused, and a folder holding a run configured otherwise
//! (here: another seed) is refused, never reused or extended.

use loev_train::fixtures::{quiet_options, small_corpus_cache, small_run_config};
use loev_train::{RunState, TrainError, pretrain_or_resume};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("loev-pretrain-or-resume-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn new_runs_train_stopped_runs_resume_finished_runs_are_reused_and_other_runs_refused() {
    let root = temp_dir("states");
    let cache = small_corpus_cache(&root).unwrap();
    let config = small_run_config("states", &cache, 2).unwrap();
    let run = root.join("run");
    let steps_logged = || {
        std::fs::read_to_string(run.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .count()
    };

    // Stopped after its first step, as a killed experiment leaves it.
    let mut stopped = quiet_options(&run);
    stopped.stop_after = Some(1);
    let mut heard = None;
    assert_eq!(
        pretrain_or_resume(&config, &stopped, |s| heard = Some(s)).unwrap(),
        RunState::New
    );
    assert_eq!((heard, steps_logged()), (Some(RunState::New), 1));

    let options = quiet_options(&run);
    assert_eq!(
        pretrain_or_resume(&config, &options, |_| {}).unwrap(),
        RunState::Unfinished
    );
    assert_eq!(steps_logged(), 2);
    assert_eq!(
        pretrain_or_resume(&config, &options, |_| {}).unwrap(),
        RunState::Finished
    );
    assert_eq!(steps_logged(), 2, "a finished run is not trained again");

    // Where the cache lives does not make another run; another seed does.
    let mut moved = config.clone();
    moved.data.cache = Some(root.join(".").join("cache"));
    assert_eq!(
        pretrain_or_resume(&moved, &options, |_| {}).unwrap(),
        RunState::Finished
    );
    let mut reseeded = config.clone();
    reseeded.seed += 1;
    let err = pretrain_or_resume(&reseeded, &options, |_| panic!("nothing may start")).unwrap_err();
    assert!(matches!(err, TrainError::Resume(_)), "{err}");
    assert!(err.to_string().contains("(differing: seed)"), "{err}");
    assert_eq!(steps_logged(), 2);
    std::fs::remove_dir_all(&root).unwrap();
}
