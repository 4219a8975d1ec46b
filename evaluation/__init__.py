"""Measuring the engine: quality on held-out images, settings sweeps, speed, and the small
classifiers they use. It imports the engine (`inpaint`) and the trainer (`train`); neither
imports it, so a Space runs the engine without it.

    python -m evaluation --model checkpoints/fashion-mnist-32 --split val --n 20 --out EVAL   # quality table
    python -m evaluation.sweep --model checkpoints/fashion-mnist-32 --field lam --values 0,1   # one setting
    python -m evaluation.versus EVAL_A EVAL_B                                                 # two models, paired
    python -m evaluation.benchmark                                                            # speed, memory
    python -m evaluation.classifier --dataset fashion-mnist --out evaluation/classifiers/fashion-mnist
"""
