"""Parameter counts of the zoo's models derived by hand from their papers' layer tables.

Written independently of the model code (plain integer arithmetic over the published
tables), so a model with a wrong filter count, a missing bias or a misplaced BN fails
test_models_zoo.py's exact-count tests. Each figure is checked there against the
paper's or torchvision's stated total.
"""


def conv(k, cin, cout, bias=True):
    return k * k * cin * cout + (cout if bias else 0)


def fc(n_in, n_out):
    return n_in * n_out + n_out


# AlexNet from the paper's section 3.5 / figure 2, towers merged (single GPU).
ALEXNET = (
    conv(11, 3, 96)  # conv1 34,944
    + conv(5, 96, 256)  # conv2 614,656
    + conv(3, 256, 384)  # conv3 885,120
    + conv(3, 384, 384)  # conv4 1,327,488
    + conv(3, 384, 256)  # conv5 884,992
    + fc(6 * 6 * 256, 4096)  # fc6 37,752,832
    + fc(4096, 4096)  # fc7 16,781,312
    + fc(4096, 1000)  # fc8 4,097,000
)
# Two towers: conv2, conv4, conv5 see only their own GPU's half of the input channels.
ALEXNET_TWO_TOWERS = (
    ALEXNET
    - (conv(5, 96, 256) - conv(5, 48, 256))
    - (conv(3, 384, 384) - conv(3, 192, 384))
    - (conv(3, 384, 256) - conv(3, 192, 256))
)
# ZFNet (Zeiler & Fergus fig. 3): only conv1 differs (7x7, 96 filters).
ZFNET = ALEXNET - conv(11, 3, 96) + conv(7, 3, 96)


def inception(cin, c1, c3r, c3, c5r, c5, proj, unit=conv, k5=5):
    """One inception module of Szegedy et al. table 1 (all convs with bias).

    ``unit(k, cin, cout)`` counts one convolution; ``k5`` is the "5x5" branch's kernel.
    """
    return (
        unit(1, cin, c1)
        + unit(1, cin, c3r)
        + unit(3, c3r, c3)
        + unit(1, cin, c5r)
        + unit(k5, c5r, c5)
        + unit(1, cin, proj)
    )


GOOGLENET = (
    conv(7, 3, 64)  # conv1
    + conv(1, 64, 64)  # conv2 reduce
    + conv(3, 64, 192)  # conv2
    + inception(192, 64, 96, 128, 16, 32, 32)  # 3a -> 256
    + inception(256, 128, 128, 192, 32, 96, 64)  # 3b -> 480
    + inception(480, 192, 96, 208, 16, 48, 64)  # 4a -> 512
    + inception(512, 160, 112, 224, 24, 64, 64)  # 4b -> 512
    + inception(512, 128, 128, 256, 24, 64, 64)  # 4c -> 512
    + inception(512, 112, 144, 288, 32, 64, 64)  # 4d -> 528
    + inception(528, 256, 160, 320, 32, 128, 128)  # 4e -> 832
    + inception(832, 256, 160, 320, 32, 128, 128)  # 5a -> 832
    + inception(832, 384, 192, 384, 48, 128, 128)  # 5b -> 1024
    + fc(1024, 1000)
)


def aux_head(cin):
    # 5x5/3 avg pool of 14x14 -> 4x4; 1x1 conv 128; FC 1024; FC 1000.
    return conv(1, cin, 128) + fc(4 * 4 * 128, 1024) + fc(1024, 1000)


# torchvision's layouts (load_torchvision_weights targets). AlexNet, the 2014
# "one weird trick" variant: 64-192-384-256-256 filters, 6x6x256 before fc6.
ALEXNET_TORCHVISION = (
    conv(11, 3, 64)  # 23,296
    + conv(5, 64, 192)  # 307,392
    + conv(3, 192, 384)  # 663,936
    + conv(3, 384, 256)  # 884,992
    + conv(3, 256, 256)  # 590,080
    + fc(6 * 6 * 256, 4096)
    + fc(4096, 4096)
    + fc(4096, 1000)
)


def bn_conv(k, cin, cout):
    """torchvision's BasicConv2d: conv without bias + BN scale and bias."""
    return conv(k, cin, cout, bias=False) + 2 * cout


def inception_tv(*channels):
    """torchvision's inception module: BN convs, a 3x3 conv in the "5x5" branch."""
    return inception(*channels, unit=bn_conv, k5=3)


GOOGLENET_TORCHVISION = (
    bn_conv(7, 3, 64)
    + bn_conv(1, 64, 64)
    + bn_conv(3, 64, 192)
    + inception_tv(192, 64, 96, 128, 16, 32, 32)
    + inception_tv(256, 128, 128, 192, 32, 96, 64)
    + inception_tv(480, 192, 96, 208, 16, 48, 64)
    + inception_tv(512, 160, 112, 224, 24, 64, 64)
    + inception_tv(512, 128, 128, 256, 24, 64, 64)
    + inception_tv(512, 112, 144, 288, 32, 64, 64)
    + inception_tv(528, 256, 160, 320, 32, 128, 128)
    + inception_tv(832, 256, 160, 320, 32, 128, 128)
    + inception_tv(832, 384, 192, 384, 48, 128, 128)
    + fc(1024, 1000)
)


def aux_head_tv(cin):
    # adaptive 4x4 avg pool; BasicConv2d 1x1, 128; FC 2048 -> 1024; FC 1000.
    return bn_conv(1, cin, 128) + fc(4 * 4 * 128, 1024) + fc(1024, 1000)


def cifar_resnet(n, classes=10):
    """6n+2 layers: stem, 3 stages of n two-conv blocks (conv without bias + BN), FC."""
    bn = 2  # scale and bias per channel

    def stage(cin, c):
        first = conv(3, cin, c, False) + conv(3, c, c, False) + 2 * bn * c
        return first + (n - 1) * (2 * conv(3, c, c, False) + 2 * bn * c)

    return (
        conv(3, 3, 16, False)
        + bn * 16
        + stage(16, 16)
        + stage(16, 32)
        + stage(32, 64)
        + fc(64, classes)
    )
