require "spec_helper"
require "middle_management/measures"

RSpec.describe MiddleManagement::Measures do
  let(:now) { 1_764_000_000_000 }

  def entry(kind, at, **figures) = MiddleManagement::Store::HistoryEntry.new(pool: "worker", kind: kind, at: at, figures: figures)
  def jobs(at, done, seconds) = entry(:jobs, at, done: done, seconds: seconds, longest: seconds)
  def boot(at, seconds) = entry(:boot, at, dyno: "worker.2", raised_at: at - (seconds * 1000).round)

  it "takes the mean of the last day's jobs, from every process's minutes" do
    measured = described_class.measured([jobs(now - 86_500_000, 100, 1000.0), jobs(now - 600_000, 4, 10.0),
                                         jobs(now - 60_000, 6, 24.0)], now: now)
    expect([measured.job_seconds, measured.jobs]).to eq([3.4, 10])
  end

  it "measures no duration from fewer than MIN_JOBS jobs, keeping what was measured before" do
    few = [jobs(now - 60_000, 4, 8.0)]
    expect(described_class.measured(few, now: now).job_seconds).to be_nil
    before = described_class::Measured.new(job_seconds: 7.0, jobs: 50, boot_seconds: 30.0, boots: 2)
    kept = described_class.measured(few, now: now, before: before)
    expect([kept.job_seconds, kept.jobs, kept.boot_seconds, kept.boots]).to eq([7.0, 4, 30.0, 2])
  end

  it "takes the median of the last boots of the day, leaving out restarts long after a raise" do
    boots = [boot(now - 90_000_000, 5), *[31, 29, 33, 300].each_with_index.map { |s, i| boot(now - 1000 * (i + 1), s) },
             boot(now - 500, 16 * 60)]
    measured = described_class.measured(boots, now: now)
    expect([measured.boot_seconds, measured.boots]).to eq([32.0, 4])
    expect(measured).not_to be_complete
  end

  it "finds the raise that started a dyno: the latest change that brought the formation up to it" do
    changes = [entry(:change, 1, from: 0, to: 3), entry(:change, 2, from: 3, to: 1), entry(:change, 3, from: 1, to: 2)]
    expect(described_class.raise_for(changes, 2).at).to eq(3)
    expect(described_class.raise_for(changes, 3).at).to eq(1)
    expect(described_class.raise_for(changes, 4)).to be_nil
    expect(described_class.raise_for(changes, nil).at).to eq(3) # Fir: the latest raise
    expect(described_class.raise_for([entry(:change, 1, from: nil, to: 2)], 1).at).to eq(1) # the record knew no quantity
  end

  it "says what it measured in words" do
    measured = described_class::Measured.new(job_seconds: 3.4, jobs: 120, boot_seconds: 31.2, boots: 1)
    expect(measured.to_s).to eq("jobs take 3.4 s (120 in the last day); dynos boot in 31 s (1 boot)")
    expect(described_class::Measured.new(jobs: 2, boots: 0).to_s).to eq("too few jobs measured; no boot measured yet")
    expect(described_class.seconds(0.0405)).to eq("40 ms")
  end
end
