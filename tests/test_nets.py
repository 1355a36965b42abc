import pytest
import torch
from torch import nn

from ebmplan.common.errors import ConfigError
from ebmplan.energy.nets import EnsembleMLP, mlp


def test_mlp_layers_follow_depth_and_width():
    net = mlp(3, 2, width=8, depth=2, activation="tanh")
    linears = [m for m in net if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(3, 8), (8, 8), (8, 2)]
    assert [type(m) for m in net] == [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear]
    encoder = mlp(3, 4, width=8, depth=0, out_activation="relu")  # the sparse autoencoder's shallowest encoder
    assert [type(m) for m in encoder] == [nn.Linear, nn.ReLU] and (encoder(torch.randn(5, 3)) >= 0).all()
    body = mlp(8, 1, width=8, depth=1, activate_input=True)  # after a first layer split into parts
    assert [type(m) for m in body] == [nn.SiLU, nn.Linear, nn.SiLU, nn.Linear]


def test_bad_sizes_and_activations_are_config_errors():
    with pytest.raises(ConfigError, match="unknown activation 'sigmoid'"):
        mlp(2, 1, width=8, depth=2, activation="sigmoid")
    with pytest.raises(ConfigError, match="width >= 1"):
        mlp(2, 1, width=0, depth=2)


def test_each_ensemble_member_is_the_mlp_of_the_same_sizes():
    torch.manual_seed(0)
    ensemble = EnsembleMLP(3, 4, 2, width=8, depth=2)
    x = torch.randn(5, 4)
    out = ensemble(x)  # [3, 5, 2]
    for k in range(3):
        net = mlp(4, 2, width=8, depth=2, activation="relu")
        with torch.no_grad():
            for layer, w, b in zip(net[0::2], ensemble.weights, ensemble.biases, strict=True):
                layer.weight.copy_(w[k].T)
                layer.bias.copy_(b[k, 0])
        assert torch.allclose(out[k], net(x), atol=1e-6)
