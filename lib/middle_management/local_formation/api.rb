require "digest"

module MiddleManagement
  module LocalFormation
    # The formation endpoints of Heroku's Platform API, without HTTP: a
    # method, a path and headers in, a status and a JSON-ready value out.
    # Kept apart from the server so faults and rate limiting (which Heroku
    # applies before any of this) stay out of the API's logic.
    class Api
      attr_reader :app, :app_id, :formation

      # forbidden_tokens: valid credentials without access to this app (403).
      def initialize(app:, app_id:, token:, formation:, forbidden_tokens: [])
        @app = app
        @app_id = app_id
        @token = token
        @forbidden_tokens = forbidden_tokens
        @formation = formation
      end

      # headers: lower-cased names. Returns [status, body].
      def call(method, path, headers, body)
        RequestValidation.check_version!(headers["accept"])
        forbidden = authorized_elsewhere?(headers["authorization"])
        app, type = route!(path)
        raise ApiError.endpoint_not_found unless %w[GET PATCH].include?(method)
        raise ApiError.app_not_found unless app == @app || app == @app_id
        raise ApiError.forbidden(@app) if forbidden

        method == "GET" ? read(type) : write(type, RequestValidation.parse_body!(headers["content-type"], body))
      rescue ApiError => e
        [e.status, e.body]
      end

      def render(process)
        {
          "app" => { "id" => @app_id, "name" => @app },
          "command" => process.command,
          "created_at" => process.created_at,
          "dyno_size" => { "id" => size_id(process.size), "name" => process.size },
          "id" => process.id,
          "quantity" => process.quantity,
          "size" => process.size,
          "type" => process.type,
          "updated_at" => process.updated_at
        }
      end

      private

      # False for this app's token, true for a forbidden one; 401 otherwise.
      def authorized_elsewhere?(authorization)
        presented = RequestValidation.presented_token(authorization)
        return false if RequestValidation.same_token?(presented, @token)
        return true if @forbidden_tokens.any? { |token| RequestValidation.same_token?(presented, token) }

        raise ApiError.unauthorized
      end

      # Only /apps/{app}/formation and /apps/{app}/formation/{type}; each
      # segment is percent-decoded on its own so an encoded "/" stays inside it.
      def route!(path)
        segments = path.sub(%r{\A/}, "").split("/", -1).map { |segment| decode(segment) }
        case segments
        in ["apps", app, "formation"] then [app, nil]
        in ["apps", app, "formation", type] then [app, type]
        else raise ApiError.endpoint_not_found
        end
      end

      def read(type)
        return [200, @formation.all.sort_by(&:type).map { |process| render(process) }] unless type

        process = @formation.find(type) || raise(ApiError.type_not_found(type))
        [200, render(process)]
      end

      def write(type, body)
        updates = type ? [RequestValidation.single_update!(body, type)] : RequestValidation.batch_updates!(body)
        updated = @formation.update(updates).map { |process| render(process) }
        [200, type ? updated.first : updated]
      rescue Formation::UnknownType => e
        raise ApiError.type_not_found(e.identity)
      rescue Formation::AboveLimit => e
        raise ApiError.above_limit(e.limit, e.size)
      end

      # Heroku gives every dyno size a fixed uuid; one derived from the name
      # is as stable.
      def size_id(name)
        Digest::SHA1.hexdigest(name.downcase).unpack("a8a4a4a4a12").join("-")
      end

      def decode(segment)
        segment.gsub(/%\h\h/) { |escape| escape[1, 2].hex.chr }.force_encoding(Encoding::UTF_8)
      end
    end
  end
end
