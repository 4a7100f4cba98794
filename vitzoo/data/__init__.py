"""Files shipped with the package: ImageNet class names, timm's weight-set table, the demo digits model and images."""
