require "json"
require "securerandom"

# A Sidekiq count races Sidekiq's poller (see delayed_job_count_race_spec.rb):
# it reads the schedule and retry sets and the queues one after another,
# each read seeing Redis as it is then. Here the real poller
# (Sidekiq::Scheduled::Enq) moves a due scheduled job to its queue exactly
# after the count's first read of either, once: the count must still see it.
#
# Sidekiq is loaded when this group starts, as spec/sidekiq_spec.rb does.
RSpec.describe "a Sidekiq count racing the poller" do
  before(:context) do
    require "sidekiq"
    require "sidekiq/api"
    require "sidekiq/scheduled"
  end
  include_context "a redis server"

  let(:counting) { MiddleManagement::Backends::Sidekiq::Counting }
  let(:redis) { Redis.new(url: redis_server.url) }

  before do
    Redis.silence_deprecations = true if defined?(Redis) && Redis.respond_to?(:silence_deprecations=)
    Sidekiq.logger.level = Logger::WARN
    Sidekiq.configure_client { |config| config.redis = { url: redis_server.url } }
    config = Sidekiq.respond_to?(:default_configuration) && Sidekiq.default_configuration
    config.remove_instance_variable(:@redis)&.shutdown(&:close) if config&.instance_variable_defined?(:@redis) # Sidekiq 7 builds its pool once
    redis.flushdb
    on_release { redis.close }
  end

  # A job scheduled a second ago, which the poller has not yet moved.
  def schedule_due_job
    job = { "class" => "SomeJob", "queue" => "default", "args" => [], "jid" => SecureRandom.hex(12),
            "created_at" => Time.now.to_f, "retry" => true }
    redis.zadd("schedule", Time.now.to_f - 1, JSON.generate(job))
  end

  it "counts a due scheduled job the poller moves to its queue meanwhile" do
    schedule_due_job
    moved = false
    move_after_first = lambda do |original, *args|
      original.call(*args).tap do
        next if moved

        moved = true
        Sidekiq::Scheduled::Enq.new.enqueue_jobs # the poller's own move
      end
    end
    allow(counting).to receive(:queue_lengths).and_wrap_original(&move_after_first)
    allow(counting).to receive(:scan_sorted_set).and_wrap_original(&move_after_first)
    counts = counting.count(MiddleManagement::Configuration::Pool.new("worker"), running_here: -> { [] })
    expect(moved).to be(true)
    expect([redis.zcard("schedule"), redis.llen("queue:default")]).to eq([0, 1]) # it did move
    expect(counts.runnable).to be >= 1
  end
end
