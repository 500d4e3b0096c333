# Honest shapes of a day of jobs, as CSV traces for the simulator
# (`middle_management simulate`), each from a seeded random source so that
# bench/cost.rb prints the same table every run. Times are seconds.
module Traces
  DAY = 86_400.0

  module_function

  # name => [[enqueued_at, duration, run_at or nil]]
  def all(random = Random.new(1))
    {
      "steady" => steady(random),
      "office hours" => office_hours(random),
      "nightly batch" => nightly_batch(random),
      "emails and PDFs" => emails_and_pdfs(random),
      "scheduled ahead" => scheduled_ahead(random)
    }
  end

  # Shapes the defaults were not chosen on (bench/cost.rb checks them too),
  # with a seed of their own.
  def unseen(random = Random.new(42))
    {
      "short jobs" => steady(random, jobs: 50_000).map { |at, duration, run_at| [at, duration / 10, run_at] },
      "long reports" => long_reports(random),
      "random spikes" => random_spikes(random),
      "cron every 15 min" => cron(random)
    }
  end

  # Poisson arrivals all day, exponential durations averaging 20 s.
  def steady(random, jobs: 20_000)
    at = 0.0
    Array.new(jobs) { [at += exponential(random, DAY / jobs), exponential(random, 20), nil] }
  end

  # Arrivals following a working day (9:00 to 18:00 busy, quiet nights).
  def office_hours(random, jobs: 20_000)
    Array.new(jobs) do
      at = random.rand < 0.85 ? 9 * 3600 + random.rand * 9 * 3600 : random.rand * DAY
      [at, exponential(random, 15), nil]
    end.sort_by(&:first)
  end

  # 10,000 short jobs at 2:00, a trickle the rest of the day.
  def nightly_batch(random)
    batch = Array.new(10_000) { [2 * 3600.0, 0.5 + random.rand, nil] }
    trickle = steady(random, jobs: 2_000)
    (batch + trickle).sort_by(&:first)
  end

  # Bursts of 500 emails (1 s) every two hours, mixed with PDF jobs of 2–5 minutes.
  def emails_and_pdfs(random)
    emails = (0...12).flat_map { |burst| Array.new(500) { [burst * 7200.0 + random.rand * 10, 1.0, nil] } }
    pdfs = Array.new(300) { [random.rand * DAY, 120 + random.rand * 180, nil] }
    (emails + pdfs).sort_by(&:first)
  end

  # Reminders enqueued through the day to run hours later (30 s each).
  def scheduled_ahead(random)
    Array.new(5_000) do
      at = random.rand * DAY / 2
      [at, 30.0, at + 3600 * (1 + random.rand * 8)]
    end.sort_by(&:first)
  end

  # Reports of 10 to 40 minutes through the working day, among short jobs.
  def long_reports(random)
    reports = Array.new(60) { [8 * 3600 + random.rand * 10 * 3600, 600 + random.rand * 1800, nil] }
    (reports + steady(random, jobs: 3_000)).sort_by(&:first)
  end

  # Forty bursts of 10 to 400 jobs of 1 to 10 s at random times.
  def random_spikes(random)
    Array.new(40) do
      at = random.rand * DAY
      size = 10 + random.rand(390)
      Array.new(size) { [at + random.rand * 5, 1 + random.rand * 9, nil] }
    end.flatten(1).sort_by(&:first)
  end

  # A scheduler enqueues 100 jobs of about 2 s every quarter of an hour.
  def cron(random)
    (0...96).flat_map { |slot| Array.new(100) { [slot * 900.0, 1 + random.rand * 2, nil] } }
  end

  def exponential(random, mean) = -Math.log(1 - random.rand) * mean

  def write(path, jobs)
    lines = ["enqueued_at,duration,run_at"] + jobs.map { |at, duration, run_at| [at.round(3), duration.round(3), run_at&.round(3)].join(",") }
    File.write(path, lines.join("\n") << "\n")
    path
  end
end
