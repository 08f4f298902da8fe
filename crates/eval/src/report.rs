//! The report stage: the tables and plots of an evaluation, written into one folder. Each
//! table is written as Markdown (to read) and CSV (to compare and plot), each plot as PNG and
//! SVG, every file atomically except the plots; the front ends choose the file names (`loev
//! probe` writes `probe.md`, the demo `table1.md`) and print what they like of the result.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use loev_core::output::OutputFolder;

use serde::Serialize;

use crate::EvalError;
use crate::equivariance::{self, EquivarianceScore};
use crate::invariance::{self, InvariancePoint};
use crate::plot::{plot_invariance, plot_retrieval};
use crate::tables::{ModelResults, table_one_csv, table_one_markdown, table_two_csv, table_two_markdown};

/// A folder receiving an evaluation's tables and plots.
#[derive(Clone, Debug)]
pub struct Report {
    dir: PathBuf,
    /// The claim on the folder ([`Report::owned`]): its lock is held while any clone lives.
    _owner: Option<Arc<OutputFolder>>,
}

impl Report {
    /// The report folder `dir`, created if needed.
    pub fn create(dir: &Path) -> Result<Self, EvalError> {
        std::fs::create_dir_all(dir).map_err(EvalError::io("create", dir))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            _owner: None,
        })
    }

    /// The report into a folder the front end claimed ([`OutputFolder::claim`], before the
    /// work, so that a folder that cannot be written is refused before hours of it): the folder
    /// stays locked while the report lives.
    pub fn owned(folder: OutputFolder) -> Self {
        Self {
            dir: folder.root().to_path_buf(),
            _owner: Some(Arc::new(folder)),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `text` to the file `name` of the folder.
    pub fn text(&self, name: &str, text: &str) -> Result<PathBuf, EvalError> {
        let path = self.dir.join(name);
        loev_core::io::atomic_write(&path, text.as_bytes()).map_err(EvalError::io("write", &path))?;
        Ok(path)
    }

    /// Writes `value` as pretty JSON to the file `name`.
    pub fn json(&self, name: &str, value: &impl Serialize) -> Result<PathBuf, EvalError> {
        let path = self.dir.join(name);
        let text = serde_json::to_string_pretty(value).map_err(|e| EvalError::format(&path, e.to_string()))?;
        self.text(name, &text)
    }

    /// The probe table (the seed paper's Table I) as `<stem>.md` and `<stem>.csv`; returns the
    /// Markdown.
    pub fn probes(&self, stem: &str, results: &[ModelResults]) -> Result<String, EvalError> {
        let markdown = table_one_markdown(results);
        self.text(&format!("{stem}.md"), &markdown)?;
        self.text(&format!("{stem}.csv"), &table_one_csv(results))?;
        Ok(markdown)
    }

    /// The retrieval table (the seed paper's Table II) as `<stem>.md` and `<stem>.csv`; returns
    /// the Markdown.
    pub fn retrieval(&self, stem: &str, results: &[ModelResults]) -> Result<String, EvalError> {
        let markdown = table_two_markdown(results);
        self.text(&format!("{stem}.md"), &markdown)?;
        self.text(&format!("{stem}.csv"), &table_two_csv(results))?;
        Ok(markdown)
    }

    /// Retrieval scores against k, every model and space (as the seed's Fig. 2), as
    /// `<stem>.png` and `<stem>.svg`; returns the PNG's path.
    pub fn retrieval_plot(&self, stem: &str, results: &[ModelResults], title: &str) -> Result<PathBuf, EvalError> {
        let png = self.dir.join(format!("{stem}.png"));
        plot_retrieval(&png, results, title)?;
        plot_retrieval(&self.dir.join(format!("{stem}.svg")), results, title)?;
        Ok(png)
    }

    /// Every invariance point as `invariance.csv`, and those for which `plotted` is true drawn
    /// into `invariance.png` and `invariance.svg`; returns the PNG's path.
    pub fn invariance(
        &self,
        points: &[InvariancePoint],
        plotted: impl Fn(&InvariancePoint) -> bool,
        title: &str,
    ) -> Result<PathBuf, EvalError> {
        invariance::write_csv(&self.dir.join("invariance.csv"), points)?;
        let drawn: Vec<InvariancePoint> = points.iter().filter(|p| plotted(p)).cloned().collect();
        let png = self.dir.join("invariance.png");
        plot_invariance(&png, &drawn, title)?;
        plot_invariance(&self.dir.join("invariance.svg"), &drawn, title)?;
        Ok(png)
    }

    /// The equivariance R² as `equivariance.csv` and `equivariance.md`; returns the Markdown.
    pub fn equivariance(&self, scores: &[EquivarianceScore]) -> Result<String, EvalError> {
        equivariance::write_csv(&self.dir.join("equivariance.csv"), scores)?;
        let markdown = equivariance::markdown(scores);
        self.text("equivariance.md", &markdown)?;
        Ok(markdown)
    }
}
