"""In-context RL agents: PPO with a resettable S5 memory, plus GRU/LSTM/memoryless baselines."""
