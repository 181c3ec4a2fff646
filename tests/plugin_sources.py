"""Source text shared by the tests that install throw-away plugin distributions (``install_plugin``)."""

MEAN_HEAD_NET = '''
class Net(torch.nn.Module):
    """A linear layer on the channel means: the smallest model that trains on inputs of any size (needs torch)."""

    def __init__(self, in_channels, n_classes):
        super().__init__()
        self.head = torch.nn.Linear(in_channels, n_classes)

    def forward(self, x):
        return self.head(x.mean(dim=(2, 3)))
'''
