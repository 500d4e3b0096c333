require "spec_helper"
require "logger"
require "middle_management/runtime/measuring"

# Runtime::Measuring on the in-memory store (Store::Local's history): the
# fold of job times, its minute's write, a dyno's boot, and the reading.
# The real hooks and stores are exercised in spec/learned_jobs_per_worker_spec.rb.
RSpec.describe MiddleManagement::Runtime::Measuring do
  let(:log_output) { StringIO.new }
  let(:log) { MiddleManagement::Log.new(Logger.new(log_output)) }
  let(:history) { MiddleManagement::Runtime::History.new(86_400, log) }
  let(:store) { MiddleManagement::Store::Local.new }
  let(:pools) { [MiddleManagement::Configuration::Pool.new("worker"), MiddleManagement::Configuration::Pool.new("urgent", queues: %w[urgent])] }

  def measuring(dyno: nil) = described_class.new(pools, history, log, dyno: dyno && MiddleManagement::Worker::Dyno.parse(dyno))

  def entries(pool, kind) = store.history(pool: pool, since: 0, kinds: [kind])

  around do |example|
    every = [described_class.write_every, described_class.read_every]
    described_class.write_every = described_class.read_every = 0.0
    example.run
  ensure
    described_class.write_every, described_class.read_every = every
  end

  it "folds the jobs of each pool and writes them once per interval, nothing for a pool without any" do
    clock = measuring
    [1.5, 2.5, 2.0].each { |seconds| clock.job_done(0, seconds) }
    clock.job_done(0, -1.0) # a clock that went back is no duration
    clock.job_done(0, Float::NAN)
    clock.tick(store)
    clock.tick(store) # nothing new: no entry

    expect(entries("worker", :jobs).map(&:figures)).to eq([{ done: 3, seconds: 6.0, longest: 2.5 }])
    expect(entries("urgent", :jobs)).to be_empty
  end

  it "writes what it folded since the last write when the process exits, before its minute is up" do
    described_class.write_every = 3_600.0
    clock = measuring
    clock.job_done(1, 4.0)
    clock.tick(store) # not due
    expect(entries("urgent", :jobs)).to be_empty
    clock.at_exit(store)
    clock.at_exit(nil) # no store chosen: nothing to write to
    expect(entries("urgent", :jobs).map(&:figures)).to eq([{ done: 1, seconds: 4.0, longest: 4.0 }])
  end

  it "waits for the store a decision chooses, and writes nothing with the history off" do
    clock = measuring
    clock.job_done(0, 1.0)
    clock.tick(nil)
    off = described_class.new(pools, MiddleManagement::Runtime::History.new(0, log), log)
    off.job_done(0, 1.0)
    off.tick(store)
    expect(entries("worker", :jobs)).to be_empty
    clock.tick(store)
    expect(entries("worker", :jobs).size).to eq(1)
  end

  it "notes a dyno's boot once, against the raise that started it, and not a dyno no raise started" do
    history.write(store, [MiddleManagement::Store::HistoryEntry.new(pool: "worker", kind: :change, at: nil,
                                                                    figures: { from: 0, to: 2 })])
    raised_at = entries("worker", :change).last.at
    booted = measuring(dyno: "worker.2")
    2.times { booted.tick(store) }
    measuring(dyno: "worker.3").tick(store) # above the raise: a restart of an older dyno, or another's
    measuring(dyno: "web.1").tick(store) # no pool's

    expect(entries("worker", :boot).map(&:figures)).to eq([{ dyno: "worker.2", raised_at: raised_at }])
  end

  it "reads what was measured, at most once an interval, and keeps it when the history cannot be read" do
    clock = measuring
    6.times { clock.job_done(0, 3.0) }
    clock.tick(store)
    now = store.now_ms
    measured = clock.measured(store, pools.first, now)
    expect([measured.job_seconds, measured.jobs, measured.boot_seconds]).to eq([3.0, 6, nil])
    expect(clock.last("worker")).to eq(measured)

    described_class.read_every = 3600.0
    6.times { clock.job_done(0, 9.0) }
    clock.tick(store)
    expect(clock.measured(store, pools.first, now).job_seconds).to eq(3.0)

    described_class.read_every = 0.0
    allow(store).to receive(:history).and_raise(IOError, "the database went away")
    expect(clock.measured(store, pools.first, now)).to eq(measured)
    expect(log_output.string).to include("could not read the jobs' measures").and include("the database went away")
  end
end
