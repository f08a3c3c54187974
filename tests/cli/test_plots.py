import struct


from conftest import FALLS_BACK, SAMPLE, TINY, invoke

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path):
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def assert_sensible_png(path, min_width=700, min_height=350):
    width, height = png_size(path)
    assert min_width <= width <= 3000 and min_height <= height <= 4000, (width, height)
    assert path.stat().st_size > 15_000  # a drawn figure, not an empty canvas


def test_predict_plot_with_intervals(monthly_bundle, tmp_path):
    out = tmp_path / "forecast.png"
    result = invoke("predict", "--model-dir", monthly_bundle, "--level", "80", "--level", "95", "--plot", out)
    assert result.exit_code == 0, result.stderr
    assert_sensible_png(out)


def test_train_plot_of_the_loss(tmp_path):
    out = tmp_path / "loss.png"
    result = invoke("train", SAMPLE / "monthly-car-sales.csv", "--lookback", "6", "--horizon", "3",
                    "--model-dir", tmp_path / "m", "--plot", out, *TINY)
    assert result.exit_code == 0, result.stderr
    assert_sensible_png(out)


def test_evaluate_plot_has_a_panel_per_fold(tmp_path):
    two, three = tmp_path / "two.png", tmp_path / "three.png"
    for folds, out in ((2, two), (3, three)):
        result = invoke("evaluate", SAMPLE / "monthly-car-sales.csv", "--lookback", "6", "--horizon", "6",
                        "--folds", folds, "--plot", out, *TINY)
        assert result.exit_code == 0, result.stderr
        assert_sensible_png(out)
    assert png_size(three)[1] > png_size(two)[1]


def test_plot_into_a_missing_directory_fails_before_training(tmp_path):
    result = invoke("train", SAMPLE / "monthly-car-sales.csv", "--model-dir", tmp_path / "m",
                    "--plot", tmp_path / "no" / "loss.png", "--quiet")
    assert result.exit_code == 2 and "--plot directory" in result.stderr
    assert not (tmp_path / "m").exists()


# Every --plot on a run whose --window-norm auto kept a baseline (no epochs of its own to draw).
def test_train_plot_where_a_baseline_is_kept_draws_the_networks_set_aside(baseline_bundle):
    _, _, plot = baseline_bundle
    assert_sensible_png(plot)


def test_predict_and_detect_plots_where_a_baseline_is_kept(baseline_bundle, tmp_path):
    model_dir, _, _ = baseline_bundle
    predicted = invoke("predict", "--model-dir", model_dir, "--level", "90", "--plot", tmp_path / "f.png", "--quiet")
    assert predicted.exit_code == 0, predicted.stderr
    assert_sensible_png(tmp_path / "f.png")
    detected = invoke("detect", SAMPLE / "monthly-car-sales.csv", "--model-dir", model_dir, "--plot", tmp_path / "d.png", "--quiet")
    assert detected.exit_code == 0, detected.stderr
    assert_sensible_png(tmp_path / "d.png")


def test_evaluate_plot_where_folds_keep_a_baseline(tmp_path):
    out = tmp_path / "backtest.png"
    result = invoke("evaluate", SAMPLE / "monthly-car-sales.csv", "--lookback", "12", "--horizon", "12", "--folds", "2",
                    "--plot", out, *FALLS_BACK)
    assert result.exit_code == 0, result.stderr
    assert_sensible_png(out)
    assert "lstm: fell back to seasonal naive in 2 of 2 folds (no network beat it on validation)" in result.stdout
