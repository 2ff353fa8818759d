"""Models the fx exporter test traces (run by test/clients/python/fx.test.ts): for each, two seeds'
weights as safetensors, the exported architecture JSON, and PyTorch's logits on fixed inputs.

    python3 fx_models.py OUTDIR
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from basin.fx import NotSupportedYet, export_architecture, save_safetensors

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures"))
from make_checkpoints import randomize_norms  # noqa: E402


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 10))


class VGG(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x):
        x = self.features(x)
        x = x.view(x.size(0), -1)
        return self.classifier(x)


class Block(nn.Module):
    def __init__(self, cin, c, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, c, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != c:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, c, 1, stride, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return F.relu(out)


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = Block(8, 8, 1)
        self.layer2 = Block(8, 16, 2)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


class TinyViT(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(16, 32)
        self.attn = nn.MultiheadAttention(32, 2, batch_first=True)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        t = self.embed(x.reshape(x.shape[0], 49, 16))
        t = t + self.attn(t, t, t)[0]
        return self.head(t.mean(1))


def main(out):
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    for name, make in (("mlp", mlp), ("vgg", VGG), ("resnet", ResNet)):
        for seed in (1, 2):
            torch.manual_seed(seed)
            model = randomize_norms(make(), seed)
            save_safetensors(model.state_dict(), os.path.join(out, f"{name}-{seed}.safetensors"))
            if seed == 1:
                with open(os.path.join(out, f"{name}.json"), "w") as f:
                    json.dump(export_architecture(model, (1, 28, 28)), f)
                with torch.no_grad():
                    save_safetensors({"x": x, "logits": model(x)}, os.path.join(out, f"{name}.expected.safetensors"))
    try:
        export_architecture(TinyViT(), (1, 28, 28))
        print("TinyViT exported", file=sys.stderr)
    except NotSupportedYet as e:
        with open(os.path.join(out, "vit.error"), "w") as f:
            f.write(str(e))


if __name__ == "__main__":
    main(sys.argv[1])
