"""A hint names only options the running command offers and applies in this call, and points to another
command only from the command it is about: both come from the command's reading (its name and options),
handed to the loaders, not from click's context."""

PADDING = "-100 is the padding label of PyTorch and Hugging Face"
SKIP = "pass --ignore-index -100 to skip those samples"
TO_BCE = "is binary cross-entropy: xent bce --labels … --logits …"


def test_grad_names_ignore_index_only_under_the_loss_that_applies_it(xent):
    """grad has --ignore-index for every --loss, but applies it only to ce: under mse the same padding
    label is explained without naming it."""
    ce = xent("grad", "--loss", "ce", "--labels", "-100,1", "--logits", "1,2;3,4")
    mse = xent("grad", "--loss", "mse", "--through", "softmax", "--labels", "-100,1", "--logits", "1,2;3,4")
    assert ce.exit_code == mse.exit_code == 1
    assert PADDING in ce.stderr and SKIP in ce.stderr, ce.stderr
    assert PADDING in mse.stderr and "--ignore-index" not in mse.stderr, mse.stderr


def test_only_ce_points_binary_labels_to_bce(xent):
    """Labels 0, 1, 1 of the logits' shape sum to 2: to ce, one logit per sample each its own is a bce call;
    grad --loss ce reads them the same way but is not ce, so its error says nothing of bce."""
    ce = xent("ce", "--labels", "0,1,1", "--logits", "0.2,-1,3")
    grad = xent("grad", "--loss", "ce", "--labels", "0,1,1", "--logits", "0.2,-1,3")
    assert ce.exit_code == grad.exit_code == 1
    assert "labels sum to 2.0" in ce.stderr and TO_BCE in ce.stderr, ce.stderr
    assert "labels sum to 2.0" in grad.stderr and "bce" not in grad.stderr, grad.stderr
