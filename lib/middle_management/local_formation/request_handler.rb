require "json"
require "securerandom"

module MiddleManagement
  module LocalFormation
    # What happens to each HTTP request, in Heroku's order: it is recorded
    # and counted against the rate limit, then an injected fault or the
    # exhausted rate limit may answer before the API even looks at it.
    class RequestHandler
      def initialize(api:, log:, faults:, rate_limit:)
        @api = api
        @log = log
        @faults = faults
        @rate_limit = rate_limit
      end

      # WEBrick's request and response (called on the connection's thread).
      def call(request, response)
        recorded = @log.record(record(request))
        remaining, exhausted = @rate_limit.take
        return hold_and_drop(recorded) if @faults.hanging?

        answer = @faults.shift
        return drop(recorded) if answer == Faults::DROP

        answer ||= exhausted ? rate_limited : api_answer(recorded)
        # The change is already applied: a slow answer, not a slow change.
        @faults.pause(@faults.delay)
        respond(response, answer, remaining)
        @log.answered(recorded, answer.status)
      end

      private

      def record(request)
        path, query = request.unparsed_uri.split("?", 2)
        headers = request.header.transform_values { |values| values.join(", ") }
        RecordedRequest.new(method: request.request_method, path: path, query: query, headers: headers,
                            body: request.body, at: Time.now)
      end

      def api_answer(recorded)
        status, body = @api.call(recorded.method, recorded.path, recorded.headers, recorded.body)
        Faults::Canned.new(status: status, content_type: "application/json", body: JSON.generate(body))
      end

      def rate_limited
        Faults::Canned.new(status: 429, content_type: "application/json", body: ApiError.rate_limit.to_json,
                           rate_limit_remaining: 0)
      end

      def hold_and_drop(recorded)
        @log.dropped(recorded)
        @faults.hold
        Listener.drop_current_connection
      end

      def drop(recorded)
        @log.dropped(recorded)
        Listener.drop_current_connection
      end

      def respond(response, answer, remaining)
        response.status = answer.status
        response["Content-Type"] = answer.content_type
        response["RateLimit-Remaining"] = (answer.rate_limit_remaining || remaining).to_s
        response["Request-Id"] = SecureRandom.uuid
        response.body = answer.body
      end
    end
  end
end
