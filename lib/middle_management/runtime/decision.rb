require "middle_management/errors"
require "middle_management/internal/bridge"
require "middle_management/runtime/busy_dynos"
require "middle_management/store"

module MiddleManagement
  module Runtime
    # The decisions the dispatcher asks for, made on the coordinator thread
    # (it owns the app's connections): take the app's lease in the store,
    # count every pool, let the native engine decide from those fresh counts
    # and the app's record, record the verdicts and free the lease in one
    # step, and answer the dispatcher, which makes the calls they ask for.
    class Decision
      def initialize(agent, dispatcher, configuration, log)
        @agent = agent
        @dispatcher = dispatcher
        @pools = configuration.pools
        @caps = dispatcher.count_caps # per pool: past this, more work changes nothing the policy says
        @log = log
        @busy = {} # pool name => what the last count said of its busy dynos, for status
        @capped = {} # pool name => the last count stopped at the cap, for status
      end

      # Whatever goes wrong (a store or a count that fails, a bad row), the
      # lease is freed and the dispatcher hears that this decision failed.
      def run(request)
        store = @agent.store
        lease = store.claim(@pools.map(&:name), gap: (request.gap * 1000).round)
        return held(store, request, lease) if lease.held?

        decide(lease, store, request)
        lease = nil
      rescue SystemExit, SignalException
        raise
      rescue Exception => e # rubocop:disable Lint/RescueException -- a decision must never end the coordinator
        @log.failure("could not decide", e)
        @dispatcher.failed(request.id)
      ensure
        release(lease)
      end

      # Per pool: the dynos its busy jobs ran on at the last count, and those
      # of them that drain; `capped: true` when that count stopped at the cap
      # (its runnable jobs are at least what status says).
      def busy_status(pool_name)
        status = @busy.fetch(pool_name) { { busy_dynos: [], draining: [] } }
        @capped[pool_name] ? status.merge(capped: true) : status
      end

      # An exit left news in the store for another process to decide on.
      def left_news? = @left_news

      private

      # Another process decides now, or the app decided a moment ago. An
      # exiting process leaves its news in the store first (for that decision,
      # if it counted after, or the next one) and then tries again while its
      # exit allows.
      def held(store, request, held)
        leave_news(store) if request.why == :flush && !store.is_a?(Store::Local)
        @dispatcher.held(request.id, held.retry_in, held.look_in)
      end

      def release(lease)
        lease.release if lease && !lease.held?
      rescue StandardError => e
        @log.failure("could not free the decision lease (it expires by itself)", e)
      end

      # Every pool from a fresh count, one native decision for them all, one
      # settle in the store, then the answer: the pools' calls go out
      # together, in one batch.
      def decide(lease, store, request)
        lease.problems.each { |key, problem| @log.once([:store_field, key], problem) }
        shared = !store.is_a?(Store::Local)
        counted = @pools.zip(@caps).map { |pool, cap| count(pool, cap, lease) }
        outcome = @dispatcher.decide(
          Internal::Bridge::Decide.new(request_id: request.id, now_ms: lease.now, shared_store: shared,
                                       window_opens_at: lease.app.window_opens_at, pools: counted.map(&:last))
        )
        # `needed` is what the work needs: the dynos above it drain (Worker::Drain).
        # The quantity is not recorded here: only Heroku's answer is (Coordinator).
        changes = @pools.zip(outcome.pools).to_h do |pool, verdict|
          [pool.name, { needed: verdict.needed, memory: verdict.memory }]
        end
        settled = lease.settle(window_opens_at: outcome.window_opens_at, look_at: outcome.look_at, pools: changes)
        # An exiting process cannot wait for the app's window: it leaves its
        # news for the next process to decide.
        leave_news(store) if request.why == :flush && shared && outcome.waiting
        @pools.zip(counted, outcome.pools).each do |pool, (counts, busy), verdict|
          @busy[pool.name] = { busy_dynos: busy.names, draining: busy.draining(verdict.needed) }
          @log.debug(describe(pool, request.why, counts, verdict, settled))
          warn_stopping_busy(pool, verdict) if settled
        end
        @dispatcher.settle(request.id, settled)
        # After the go-ahead, so the calls do not wait for them; a decision
        # that lost its lease was not acted on, and leaves no history.
        return unless settled

        samples = @agent.history.decided(store, lease, @pools.zip(counted, outcome.pools))
        @agent.alerter.decided(store, lease.now, samples)
      end

      # A pool's fresh count, its busy dynos, and what the decision reads of
      # them with the store's record.
      def count(pool, cap, lease)
        counts = @agent.count(pool, cap: cap) or raise Error, "no job library could count #{pool.name}'s jobs"
        @capped[pool.name] = counts.capped
        busy = busy_dynos(pool, counts)
        record = lease.record(pool.name)
        measured = @agent.measuring.measured(@agent.store, pool, lease.now)
        job_seconds, boot_seconds = measured.job_seconds, measured.boot_seconds if measured.complete?
        input = Internal::Bridge::Pool.new(runnable: counts.runnable, running: counts.running,
                                           next_run_in: counts.next_run_in, top_busy_dyno: busy.top,
                                           busy_unnumbered: busy.unnumbered?, quantity: record.quantity,
                                           memory: record.memory, job_seconds: job_seconds, boot_seconds: boot_seconds)
        [counts, busy, input]
      end

      def leave_news(store)
        store.leave_news
        @left_news = true
      end

      def busy_dynos(pool, counts)
        busy = BusyDynos.new(pool, counts.busy_dynos)
        @log.once(:unnumbered_dynos, busy.unnumbered_note) if busy.unnumbered?
        busy
      end

      def warn_stopping_busy(pool, verdict)
        return unless verdict.send_quantity && verdict.stops_busy

        @log.warn("#{pool.name}: MAX_WORKERS is #{verdict.send_quantity}, so #{pool.name}.#{verdict.stops_busy} " \
                  "is stopped while it works a job")
      end

      def describe(pool, why, counts, verdict, settled)
        action = if !settled then "lost the lease; not sending"
                 elsif verdict.send_quantity then "sending #{verdict.send_quantity}"
                 elsif verdict.look_again_in then format("looking again in %.1fs", verdict.look_again_in)
                 else "nothing to send"
                 end
        runnable = counts.capped ? "≥ #{counts.runnable}" : counts.runnable
        per_worker = verdict.jobs_per_worker && "#{verdict.jobs_per_worker} per worker; "
        "#{pool.name} wants #{verdict.wanted} (#{verdict.reason}; #{runnable} runnable, " \
          "#{counts.running} running; #{per_worker}#{why}): #{action}"
      end
    end
  end
end
