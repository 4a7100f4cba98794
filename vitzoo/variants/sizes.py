"""The transformer sizes the variant tables share (width, depth, heads, MLP width), by their usual letters."""

TI = dict(embed_dim=192, depth=12, num_heads=3, mlp_dim=768)
S = dict(embed_dim=384, depth=12, num_heads=6, mlp_dim=1536)
M = dict(embed_dim=512, depth=12, num_heads=8, mlp_dim=2048)
B = dict(embed_dim=768, depth=12, num_heads=12, mlp_dim=3072)
L = dict(embed_dim=1024, depth=24, num_heads=16, mlp_dim=4096)
H = dict(embed_dim=1280, depth=32, num_heads=16, mlp_dim=5120)
SO400M = dict(embed_dim=1152, depth=27, num_heads=16, mlp_dim=4304)  # SigLIP's shape-optimised 400M
GIANT_OPT = dict(embed_dim=1536, depth=40, num_heads=16, mlp_dim=6144)  # SigLIP 2's shape-optimised giant
