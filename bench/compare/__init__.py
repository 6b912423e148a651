"""`python -m bench compare A B`: two results directories side by side, as a regression report.

pairs.py matches the runs of A and B into cases and says which pairs are comparable; stats.py gives
each pair's ratios B/A with a bootstrap interval, a Mann-Whitney U p-value and a mark; page.py writes
the terminal table, the Markdown and the HTML page; cli.py parses the command line.
"""
