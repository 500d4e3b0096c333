module MiddleManagement
  # The decisions the dispatcher asks for, made on the coordinator thread
  # (it owns the app's connections): take the app's lease in the store,
  # count every pool, let the native engine decide from those fresh counts
  # and the app's record, record the verdicts and free the lease in one
  # step, and answer the dispatcher, which makes the calls they ask for.
  class Decision
    # Why the dispatcher asks => how long after the app's last decision this
    # one may be skipped: news from many processes costs one count per gap.
    NEWS_GAP = 1.0 # seconds, at most API_THROTTLE

    def initialize(agent, dispatcher, configuration, log)
      @agent = agent
      @dispatcher = dispatcher
      @pools = configuration.pools
      @log = log
      @busy = {} # pool name => what the last count said of its busy dynos, for status
      @capped = {} # pool name => the last count stopped at the cap, for status
      news_gap = [NEWS_GAP, configuration.api_throttle].min
      @gaps = { news: news_gap, due: news_gap, boot: news_gap, check: news_gap, periodic: configuration.count_interval,
                flush: 0 }
    end

    # Whatever goes wrong (a store or a count that fails, a bad row), the
    # lease is freed and the dispatcher hears that this decision failed.
    def run(request)
      why = request.why
      news = request.news
      store = @agent.store
      lease = store.claim(@pools.map(&:name), gap: (@gaps.fetch(why) * 1000).round)
      return held(store, why, lease) if lease.held?

      decide(lease, store, why, news)
      lease = nil
    rescue SystemExit, SignalException
      raise
    rescue Exception => e # rubocop:disable Lint/RescueException -- a decision must never end the coordinator
      @log.failure("could not decide", e)
      @pools.each_index { |index| @dispatcher.failed(index) }
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
    def held(store, why, held)
      leave_news(store) if why == :flush && !store.is_a?(Store::Local)
      @pools.each_index { |index| @dispatcher.held(index, held.retry_in, held.look_in) }
    end

    def release(lease)
      lease.release if lease && !lease.held?
    rescue StandardError => e
      @log.failure("could not free the decision lease (it expires by itself)", e)
    end

    # Every pool from a fresh count, one settle for all, then the answers:
    # the pools' calls go out together, in one batch.
    def decide(lease, store, why, news)
      lease.problems.each { |key, problem| @log.once([:store_field, key], problem) }
      local = store.is_a?(Store::Local)
      occasion = occasion(why, local)
      verdicts = @pools.each_with_index.map do |pool, index|
        # No further than the decision can see (the policy's cap).
        counts = @agent.count(pool, cap: @dispatcher.count_cap(index)) or
          raise Error, "no job library could count #{pool.name}'s jobs"
        @capped[pool.name] = counts.capped
        state = lease.state(pool.name)
        busy = busy_dynos(pool, counts)
        native_counts = Internal::Native::Counts.new(counts.runnable, counts.running, counts.next_run_in, busy.top,
                                                     busy.unnumbered?)
        record = Internal::Native::Record.new(state.quantity, lease.app.window_opens_at, state.history)
        verdict = @dispatcher.verdict(index, native_counts, record, lease.now, occasion)
        @busy[pool.name] = { busy_dynos: busy.names, draining: busy.draining(verdict.needed) }
        [counts, verdict]
      end
      # `wanted` is what the work needs: the workers above it drain (Drain).
      # The quantity is not recorded here: only Heroku's answer is (Coordinator).
      changes = @pools.zip(verdicts).to_h do |pool, (_counts, verdict)|
        [pool.name, { wanted: verdict.needed, history: verdict.memory }]
      end
      window_opens_at = verdicts.filter_map { |_counts, verdict| verdict.window_opens_at }.max
      look_in = verdicts.filter_map { |_counts, verdict| verdict.look_again_in }.min
      look_at = look_in && lease.now + (look_in * 1000).ceil
      settled = lease.settle(window_opens_at: window_opens_at, look_at: look_at, pools: changes)
      waiting = verdicts.any? { |_counts, verdict| !verdict.send_quantity && verdict.look_again_in }
      # An exiting process cannot wait for the app's window: it leaves its
      # news for the next process to decide.
      leave_news(store) if why == :flush && !local && waiting
      @pools.zip(verdicts).each_with_index do |(pool, (counts, verdict)), index|
        @log.debug(describe(pool, why, counts, verdict, settled))
        warn_stopping_busy(pool, verdict) if settled
        @dispatcher.decided(index, news[index], verdict, settled)
      end
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

    # An exit without a shared store sends what it wants whatever its own
    # window (nobody else will); a periodic look and the Scheduler task also
    # check that Heroku has what the record says (someone may have scaled
    # by hand, or a process died before it could record Heroku's answer).
    def occasion(why, local)
      if why == :flush && local then :exit_alone
      elsif %i[periodic check].include?(why) then :verify
      else :change
      end
    end

    def describe(pool, why, counts, verdict, settled)
      action = if !settled then "lost the lease; not sending"
               elsif verdict.send_quantity then "sending #{verdict.send_quantity}"
               elsif verdict.look_again_in then format("looking again in %.1fs", verdict.look_again_in)
               else "nothing to send"
               end
      runnable = counts.capped ? "≥ #{counts.runnable}" : counts.runnable
      "#{pool.name} wants #{verdict.wanted} (#{verdict.reason}; #{runnable} runnable, " \
        "#{counts.running} running; #{why}): #{action}"
    end
  end
end
