"""Active learning: pick the pool examples worth labelling, retrain, measure, stop.

Modules (scikit-learn / torch are imported inside functions; `state`, `status`, `labels`,
`labelling`, `io` and `stopping` do not need numpy either, so `al status`, `al import`,
`al label` and the TUI screens work on a core install):

- `io`: JSONL/CSV reading with line numbers, atomic writes.
- `state`: the project directory; `ProjectState`, the typed `state.json` (read/written there only).
- `scoring`: uncertainty from class probabilities or per-token distributions.
- `strategies`: batch selection (uncertainty top-K, cluster-margin, k-center, BADGE, random).
- `classifier`: the proxy learner for `classify` (TF-IDF + logistic regression).
- `lm`: generation uncertainty (mean token entropy, MNLP) and held-out NLL from a causal LM.
- `llm`: the LLM learner (each round a tunetui run; warm start; select from its scores);
  `llmscore`: batched, chunked scoring with the tuned model (label-word probabilities,
  answer uncertainty, its embeddings); `llmplan`: the scoring batch from free memory.
- `roundlog`: each round to the recipe's loggers (TensorBoard, MLflow).
- `labelling`: answers given in `tunetui al label`, saved per key, merged on leaving.
- `stopping`: budget, plateau and stabilising-predictions rules.
- `tasks`: what differs between `classify` and `generate` (one small object per kind).
- the verbs, one module each: `create` (init), `selection` (select), `labels` (import),
  `rounds` (train), `loop` (unattended loop against known labels).
- `status`: `al_status(project_dir) -> dict` for the CLI and a TUI screen.
- `simulate`: in-memory simulation used by `bench/active_learning.py`.
"""
