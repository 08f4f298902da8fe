//! KNN retrieval on track embeddings, scored by what the neighbours share with
//! the query.
//!
//! Neighbours are ranked by cosine similarity (ties: lower database index first). When the
//! queries are the database itself, each query's own entry is excluded **by index** (not by
//! dropping rank 0, which is wrong for duplicates and for a query set distinct from the
//! database). For each k ∈ {1, 3, 5, 10}:
//!
//! * **tag precision@k**, per tag averaged over tags: for tag t, over the queries that have t,
//!   the mean fraction of their k neighbours that also have t; then the mean over the tags
//!   that at least one query has. (The LOEV, synesis and MARBLE code define no tag precision@k.
//!   Of the candidate definitions, namely the share of neighbours sharing at least one tag with
//!   the query, the mean tag overlap per neighbour, and per-tag precision, this is the per-tag
//!   one, which weighs rare and common tags equally, like the macro ROC-AUC of the tagging probe.)
//! * **key**: the mean mir_eval weighted score of (query key as reference, neighbour key as
//!   estimate) over all query–neighbour pairs where both have a key (LOEV's
//!   `giantsteps_metrics(queries, retrieved)`).
//! * **tempo Acc1**: the fraction of query–neighbour pairs (both with a tempo) whose tempi
//!   agree within the tolerance of the query's (LOEV's `get_tempo_metrics`).

use std::collections::BTreeSet;

use loev_audio::manifest::Manifest;
use loev_data::labels::{Key, KeyLabel, key_weighted_score, tempo_acc1};
use loev_data::manifest_tasks::parse_tags;
use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::store::EmbeddingSet;

/// The k of the benchmark.
pub const DEFAULT_KS: [usize; 4] = [1, 3, 5, 10];

/// One item: its track embedding and labels.
#[derive(Clone, Debug, PartialEq)]
pub struct RetrievalItem {
    /// Track id.
    pub id: String,
    /// Track embedding (any dimension; all items the same).
    pub embedding: Vec<f32>,
    /// Key label.
    pub key: Option<Key>,
    /// Tempo label (BPM).
    pub tempo: Option<f64>,
    /// Tags.
    pub tags: Vec<String>,
}

/// Scores at one k.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetrievalScores {
    /// Neighbours per query.
    pub k: usize,
    /// Tag precision@k averaged over tags (`None` without tags).
    pub tag_precision: Option<f64>,
    /// Mean weighted key score of the neighbours (`None` without keys).
    pub key_score: Option<f64>,
    /// Tempo Acc1 of the neighbours (`None` without tempi).
    pub tempo_acc1: Option<f64>,
    /// Queries.
    pub queries: usize,
}

fn normalized(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    if norm > 0.0 {
        v.iter().map(|x| (*x as f64 / norm) as f32).collect()
    } else {
        v.to_vec()
    }
}

/// Cosine similarity of two vectors (0 when either is zero).
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        dot += *x as f64 * *y as f64;
        na += (*x as f64).powi(2);
        nb += (*y as f64).powi(2);
    }
    if na > 0.0 && nb > 0.0 {
        dot / (na.sqrt() * nb.sqrt())
    } else {
        0.0
    }
}

/// The `k` nearest database entries (cosine) of every query, best first. `exclude[q]` names a
/// database index that query q must not retrieve (itself, when the query set is the database).
pub fn nearest_neighbors(
    queries: &[Vec<f32>],
    database: &[Vec<f32>],
    k: usize,
    exclude: &[Option<usize>],
) -> Vec<Vec<usize>> {
    let db: Vec<Vec<f32>> = database.iter().map(|v| normalized(v)).collect();
    queries
        .iter()
        .enumerate()
        .map(|(q, query)| {
            let query = normalized(query);
            let skip = exclude.get(q).copied().flatten();
            let mut scored: Vec<(f64, usize)> = db
                .iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != skip)
                .map(|(i, v)| (query.iter().zip(v).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>(), i))
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            scored.into_iter().take(k).map(|(_, i)| i).collect()
        })
        .collect()
}

/// Retrieval within one set: every item queries all the others.
pub fn evaluate_retrieval(items: &[RetrievalItem], ks: &[usize], tolerance: f64) -> Vec<RetrievalScores> {
    let embeddings: Vec<Vec<f32>> = items.iter().map(|i| i.embedding.clone()).collect();
    let exclude: Vec<Option<usize>> = (0..items.len()).map(Some).collect();
    let k_max = ks.iter().copied().max().unwrap_or(0);
    let neighbours = nearest_neighbors(&embeddings, &embeddings, k_max, &exclude);
    let tags: BTreeSet<&str> = items.iter().flat_map(|i| i.tags.iter().map(String::as_str)).collect();
    ks.iter()
        .map(|&k| {
            let top = |q: usize| &neighbours[q][..k.min(neighbours[q].len())];
            // Tag precision@k, per tag.
            let mut per_tag = Vec::new();
            for tag in &tags {
                let mut sum = 0.0;
                let mut n = 0usize;
                for (q, item) in items.iter().enumerate() {
                    if !item.tags.iter().any(|t| t == tag) || top(q).is_empty() {
                        continue;
                    }
                    let hits = top(q)
                        .iter()
                        .filter(|&&i| items[i].tags.iter().any(|t| t == tag))
                        .count();
                    sum += hits as f64 / top(q).len() as f64;
                    n += 1;
                }
                if n > 0 {
                    per_tag.push(sum / n as f64);
                }
            }
            let tag_precision = (!per_tag.is_empty()).then(|| per_tag.iter().sum::<f64>() / per_tag.len() as f64);
            // Key and tempo over query–neighbour pairs.
            let (mut key_sum, mut key_n, mut tempo_hits, mut tempo_n) = (0.0, 0usize, 0usize, 0usize);
            for (q, item) in items.iter().enumerate() {
                for &i in top(q) {
                    if let (Some(r), Some(e)) = (item.key, items[i].key) {
                        key_sum += key_weighted_score(KeyLabel::Key(r), KeyLabel::Key(e));
                        key_n += 1;
                    }
                    if let (Some(r), Some(e)) = (item.tempo, items[i].tempo) {
                        tempo_hits += tempo_acc1(r, e, tolerance) as usize;
                        tempo_n += 1;
                    }
                }
            }
            RetrievalScores {
                k,
                tag_precision,
                key_score: (key_n > 0).then(|| key_sum / key_n as f64),
                tempo_acc1: (tempo_n > 0).then(|| tempo_hits as f64 / tempo_n as f64),
                queries: items.len(),
            }
        })
        .collect()
}

/// The music tracks of an embedding folder (every split) with their labels, for retrieval.
pub fn retrieval_items(set: &EmbeddingSet, space: &str) -> Result<Vec<RetrievalItem>, EvalError> {
    let index = set.index_path();
    let parsed = Manifest::read(&index).map_err(|e| EvalError::format(&index, e.to_string()))?;
    let mut items = Vec::new();
    for row in &parsed.rows {
        let field = |k: &str| row.fields.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        if field("kind").is_some_and(|k| k != "track") {
            continue;
        }
        let key = field("key").and_then(|k| k.parse().ok());
        let tempo = field("tempo").and_then(|t| t.parse::<f64>().ok());
        let tags = field("tags").map(parse_tags).unwrap_or_default();
        if key.is_none() && tempo.is_none() && tags.is_empty() {
            continue;
        }
        let embedding = set.read_space(&row.path, space)?.mean;
        items.push(RetrievalItem {
            id: field("id").unwrap_or_default().to_string(),
            embedding,
            key,
            tempo,
            tags,
        });
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use loev_data::labels::Mode;

    fn item(id: &str, embedding: Vec<f32>, key: Key, tempo: f64, tags: &[&str]) -> RetrievalItem {
        RetrievalItem {
            id: id.into(),
            embedding,
            key: Some(key),
            tempo: Some(tempo),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn self_is_excluded_by_index_even_with_duplicates() {
        // Items 0 and 1 are identical: each must retrieve the other, not itself.
        let e = vec![vec![1.0, 0.0], vec![1.0, 0.0], vec![0.0, 1.0]];
        let nn = nearest_neighbors(&e, &e, 2, &[Some(0), Some(1), Some(2)]);
        assert_eq!(nn[0], vec![1, 2]);
        assert_eq!(nn[1], vec![0, 2]);
        assert_eq!(nn[2][0], 0); // tie between 0 and 1 → lower index
        // A query set distinct from the database excludes nothing.
        let nn = nearest_neighbors(&[vec![1.0, 0.1]], &e, 1, &[None]);
        assert_eq!(nn[0], vec![0]);
    }

    #[test]
    fn scores_follow_the_documented_definitions() {
        let c = Key::new(0, Mode::Major);
        let g = Key::new(7, Mode::Major);
        let items = vec![
            item("a", vec![1.0, 0.0], c, 120.0, &["piano", "rock"]),
            item("b", vec![0.9, 0.1], g, 124.0, &["piano"]),
            item("c", vec![0.0, 1.0], c, 90.0, &["rock"]),
        ];
        let s = evaluate_retrieval(&items, &[1, 2], 0.04);
        // k=1: a→b, b→a, c→b (cos(c,b) > cos(c,a)).
        // a→b: ref C, est G (a fifth up) 0.5; b→a: ref G, est C 0; c→b: ref C, est G 0.5.
        assert_eq!(s[0].key_score, Some(1.0 / 3.0));
        // piano: queries a, b → neighbours b, a both piano → 1.0; rock: queries a (→b, no), c (→b, no) → 0.
        assert_eq!(s[0].tag_precision, Some(0.5));
        // tempo: a→b 124 vs 120 within 4.8 → hit; b→a 120 vs 124 within 4.96 → hit; c→b miss.
        assert_eq!(s[0].tempo_acc1, Some(2.0 / 3.0));
        assert_eq!(s[1].queries, 3);
    }
}
