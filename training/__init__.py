"""Produces the person-segmentation model: data, DeepLabV3+ builder, training, evaluation, export."""
