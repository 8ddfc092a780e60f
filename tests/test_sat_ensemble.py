"""SatEnsemble (models/nets/sat.py): N Show-Attend-Tell decoders read as one, on tiny random configs.

The mean of the members' next-word distributions and of their attention maps, checked against the members run
one by one; one member is that member exactly; the folder format round-trips; beam search reads it.
"""

from dataclasses import asdict
from pathlib import Path

import torch

from models.formats.captioner_folder import Vocab, load_decoder, save_decoder
from models.nets.sat import SatConfig, SatEnsemble, SatEnsembleConfig, ShowAttendTell
from models.serve.captioner import beam_search

B, T, V, FEAT = 2, 4, 12, 16
GRID = (2, 3)
P = GRID[0] * GRID[1]
CONFIG = SatConfig(
    vocab_size=V, feature_dim=FEAT, grid=GRID, embed_dim=8, hidden_dim=16, attention_dim=8, dropout=0.0, max_len=6
)


def ensemble(n: int) -> SatEnsemble:
    torch.manual_seed(0)
    return SatEnsemble(SatEnsembleConfig(**asdict(CONFIG), members=n)).eval()


def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(B, P, FEAT, generator=g), torch.randint(3, V, (B, T), generator=g)


def test_the_ensemble_is_the_mean_of_its_members_distributions_and_maps() -> None:
    model = ensemble(3)
    features, words = inputs()
    with torch.no_grad():
        out = model(features, words)
        members = [m(features, words) for m in model.decoders()]
    probs = torch.stack([m.logits.softmax(-1) for m in members]).mean(0)  # (B, T, V)
    torch.testing.assert_close(out.logits.exp(), probs)
    torch.testing.assert_close(out.logits.softmax(-1), probs)  # the logits are log-probabilities already
    torch.testing.assert_close(out.attentions, torch.stack([m.attentions for m in members]).mean(0))
    torch.testing.assert_close(out.attentions.sum(-1), torch.ones(B, T))
    torch.testing.assert_close(out.gates, torch.stack([m.gates for m in members]).mean(0))
    assert not torch.allclose(members[0].attentions, members[1].attentions)  # the members differ


def test_one_member_is_that_member() -> None:
    model = ensemble(1)
    member = model.decoders()[0]
    features, words = inputs()
    with torch.no_grad():
        out, alone = model(features, words), member(features, words)
        greedy, greedy_alone = model.generate(features, 1, 2), member.generate(features, 1, 2)
    torch.testing.assert_close(out.logits, alone.logits.log_softmax(-1))
    torch.testing.assert_close(out.attentions, alone.attentions)
    assert torch.equal(greedy.tokens, greedy_alone.tokens)


def test_folder_round_trip_and_beam_search(tmp_path: Path) -> None:
    model = ensemble(2)
    vocab = Vocab(tuple(f"w{i}" for i in range(V)))
    save_decoder(tmp_path, "sat-ensemble", model, vocab, {})
    loaded, _, config = load_decoder(tmp_path)
    assert isinstance(loaded, SatEnsemble) and isinstance(loaded, ShowAttendTell)
    assert config["config"]["members"] == 2 and len(loaded.members) == 2
    features, words = inputs()
    with torch.no_grad():
        expected = model(features, words).logits
        torch.testing.assert_close(loaded(features, words).logits, expected, atol=2e-3, rtol=2e-3)  # fp16 weights
        out = beam_search(loaded, features[:1], 1, 2, beam=3)
    maps = out.spatial[0, :, 0, 0]  # (T, P)
    torch.testing.assert_close(maps.sum(-1), torch.ones(maps.shape[0]))
