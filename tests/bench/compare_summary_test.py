"""Unit tests of bench/compare's summary: medians, ratios, the per-round p99
ratio range and the user/kernel split, on hand-made runs whose expected
figures are worked out below."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench",
                                "compare"))
from compare import cpu_split_table, summarize  # noqa: E402


def run(server, round_index, ops, p99, user, kernel, profile="get-hit", threads=2):
    return {"server": server, "server_threads": threads, "profile": profile,
            "round": round_index, "offered_rate": None, "ops_per_sec": ops,
            "p50_us": p99 / 4, "p99_us": p99, "p999_us": p99 * 2,
            "server_cpu_us_per_req": user + kernel, "server_user_us_per_req": user,
            "server_kernel_us_per_req": kernel, "bench_cpu_util": 0.5, "steal_pct": 1.0,
            "hit_ratio": 1.0, "errors": 0}


class SummaryTest(unittest.TestCase):
    def setUp(self):
        # Round p99 ratios: 4000/5000 = 0.8, 6000/4000 = 1.5, 5000/5000 = 1.0.
        self.runs = [
            run("treecached", 1, 100, 4000, 2.0, 10.0), run("memcached", 1, 80, 5000, 3.0, 12.0),
            run("treecached", 2, 120, 6000, 2.5, 11.0), run("memcached", 2, 90, 4000, 3.5, 13.0),
            run("treecached", 3, 110, 5000, 1.5, 12.0), run("memcached", 3, 100, 5000, 2.5, 14.0),
        ]
        self.row = summarize(self.runs)[0]

    def test_medians_and_ratios(self):
        self.assertEqual(self.row["treecached_ops_per_sec"], 110)
        self.assertEqual(self.row["memcached_ops_per_sec"], 90)
        self.assertAlmostEqual(self.row["ratio_ops_per_sec"], 110 / 90)
        # Median p99s are 5000 and 5000, although no single round had ratio 1.0 but one.
        self.assertAlmostEqual(self.row["ratio_p99_us"], 1.0)

    def test_per_round_p99_ratio_range(self):
        self.assertAlmostEqual(self.row["ratio_p99_us_min"], 0.8)
        self.assertAlmostEqual(self.row["ratio_p99_us_max"], 1.5)

    def test_user_kernel_split(self):
        self.assertAlmostEqual(self.row["treecached_server_user_us_per_req"], 2.0)
        self.assertAlmostEqual(self.row["treecached_server_kernel_us_per_req"], 11.0)
        self.assertAlmostEqual(self.row["memcached_server_user_us_per_req"], 3.0)
        self.assertAlmostEqual(self.row["memcached_server_kernel_us_per_req"], 13.0)
        line = cpu_split_table([self.row]).splitlines()[2]
        self.assertEqual(line.split(), ["2", "get-hit", "|", "2.00", "11.00", "|", "3.00",
                                        "13.00", "|", "0.80..1.50"])

    def test_profiles_and_thread_counts_stay_apart(self):
        other = [run("treecached", 1, 50, 9000, 1.0, 1.0, profile="set", threads=1),
                 run("memcached", 1, 25, 3000, 1.0, 1.0, profile="set", threads=1)]
        rows = summarize(self.runs + other)
        self.assertEqual([(r["server_threads"], r["profile"]) for r in rows],
                         [(2, "get-hit"), (1, "set")])
        self.assertAlmostEqual(rows[1]["ratio_ops_per_sec"], 2.0)
        self.assertAlmostEqual(rows[1]["ratio_p99_us_min"], 3.0)
        self.assertAlmostEqual(rows[0]["ratio_p99_us_max"], 1.5)


if __name__ == "__main__":
    unittest.main()
